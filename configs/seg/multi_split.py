# The separate pipeline's segmentation model for docs/multitask.md's comparison: the segmentation
# main job's small HRNetV2 (configs/seg/synthetic_mini.py) on the synthetic multi-task split's label
# maps (road, sidewalk, building, vegetation, sky, person, car; 255 ignored), whole 256x384 images.
# Needs the split: `hrseg synthetic multi` writes datasets/synthetic_multi.
_base_ = ["./synthetic_mini.py"]
work_dir = "work_dirs/multi_split_seg"
model = dict(num_classes=7)
data = dict(
    _delete_=True,
    type="folder",
    root="datasets/synthetic_multi",
    classes=["road", "sidewalk", "building", "vegetation", "sky", "person", "car"],
    train=dict(images="images/train", masks="semantic/train"),
    val=dict(images="images/val", masks="semantic/val"),
    crop_size=[256, 384],
    base_size=384,
    scale_range=[0.75, 1.5],
    batch_size=8,
    num_workers=0,
)
train = dict(max_epochs=8, eval_interval=8)
