# MPII Human Pose in the official HRNet layout (datasets/README.md), 256x256 crops, 16 joints, scored by PCKh.
data = dict(
    root="datasets/mpii",
    format="mpii",
    train=dict(ann_file="annot/train.json", img_dir="images"),
    val=dict(ann_file="annot/valid.json", img_dir="images", gt_file="annot/gt_valid.mat"),
    input_size=[256, 256],
    heatmap_size=[64, 64],
    sigma=2.0,
    batch_size=32,
    val_batch_size=64,
    num_workers=4,
    # the official MPII YAMLs: ROT_FACTOR 30, SCALE_FACTOR 0.25, FLIP, PROB_HALF_BODY -1.0 (off)
    augment=dict(scale_factor=0.25, rotation_factor=30, half_body_prob=0.0),
)
# the validation is on the annotated people, as the official code (MPII has no detector boxes)
test = dict(flip=True, shift_heatmap=True, decoder="argmax")
