# The reduced segmentation study this project's shared 2-core CPU could afford (docs/efficientnet.md):
# progressive_synthetic_seg.py on scenes generated at 64x128 (a quarter of the pixels), 80 training
# and 20 val scenes, whole 64x128 crops; three stages 32x64 -> 48x96 -> 64x128 (multiples of 16).
# OHEM keeps the same share of the pixels as at 128x256 (1/8 of a batch).
_base_ = ["progressive_synthetic_seg.py"]
work_dir = "work_dirs/progressive_seg_small"
data = dict(root="datasets/synthetic_streets_64x128",
            synthetic=dict(num_train=80, num_val=20, size=[64, 128], seed=0, furniture=False),
            crop_size=[64, 128], base_size=128, num_workers=0)
loss = dict(ohem_min_kept=8192)
train = dict(max_epochs=24, eval_interval=3, log_interval=1000)
progressive = dict(size_divisor=16)
