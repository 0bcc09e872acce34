# The separate pipeline's Mask R-CNN for docs/multitask.md's comparison: configs/det/mini_maskrcnn.py's
# small Mask R-CNN trained on the synthetic multi-task split (person and car boxes and masks,
# 256x384), the same detector settings as the multi-task recipe (configs/multi/synthetic_mini.py).
# Needs the split: `hrseg synthetic multi` (or a `hrseg train multi` run) writes datasets/synthetic_multi.
# Its own augmentation (horizontal flips: boxes and masks do not care about the figures' left/right
# tones), 6 epochs: about half of the multi-task job's CPU time (the pose and segmentation
# models share the other half).
_base_ = ["./mini_maskrcnn.py"]
work_dir = "work_dirs/multi_split_maskrcnn"
model = dict(min_size=256, max_size=384)
data = dict(
    root="datasets/synthetic_multi",
    synthetic=None,
    train=dict(ann_file="annotations/instances_train.json", img_dir="images/train"),
    val=dict(ann_file="annotations/instances_val.json", img_dir="images/val"),
)
schedule = dict(milestones=[5])
train = dict(max_epochs=6, eval_interval=6)
