# COCO 2017 instances (boxes), laid out as datasets/README.md describes. 2 images per process
# as the official configs (8 GPUs x 2 = 16 per step); horizontal flip only.
data = dict(
    root="datasets/coco",
    train=dict(ann_file="annotations/instances_train2017.json", img_dir="images/train2017"),
    val=dict(ann_file="annotations/instances_val2017.json", img_dir="images/val2017"),
    batch_size=2,
    val_batch_size=2,
    num_workers=2,
    augment=dict(flip_prob=0.5, scale_range=None, photometric=False),
)
