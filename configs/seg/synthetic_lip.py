# LIP-style human parsing on the CPU: `python tools/train_seg.py configs/seg/synthetic_lip.py`.
# One articulated figure per 192x128 image (hrseg/data/synthetic/lip.py: the synthetic pose
# figures with their part masks in LIP's classes; generated under datasets/synthetic_lip on first
# use) and a small HRNetV2 (on hrnet_w18_small_v1) trained from scratch, with the LIP flip that
# swaps left/right arm, leg and shoe in training and in the flip test. Only 11 of LIP's 20
# classes occur; mIoU is over those (the others have no pixels and are left out, as nanmean).
# Not the official LIP protocol of the base file: the aspect is kept (no squash), scales are uniform
# in [0.75, 1.25] with mean-colour padding, and the whole 192x128 image is tested at its size.
_base_ = ["../_base_/models/seg_hrnetv2.py", "../_base_/datasets/lip.py"]
work_dir = "work_dirs/seg_synthetic_lip"
model = dict(name="seg_hrnetv2_w18_small_v1", num_classes=20)
data = dict(
    root="datasets/synthetic_lip",
    synthetic=dict(num_train=300, num_val=60, size=[192, 128], seed=0),
    crop_size=[192, 128],
    base_size=192,
    squash=False,
    scale_range=[0.75, 1.25],
    scale_step=None,
    pad_value=None,
    batch_size=8,
    num_workers=0,
)
test = dict(mode="whole", base_size=None, crop_size=[512, 512], protocol=None, protocol_dataset=None)
loss = dict(ohem=True, ohem_thresh=0.7, ohem_min_kept=32768)
optimizer = dict(type="Adam", lr=2e-3, weight_decay=0.0)
schedule = dict(type="poly", power=0.9, warmup_iters=25)
train = dict(max_epochs=27, eval_interval=9, log_interval=5)
