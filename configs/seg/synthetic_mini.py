# The embedded default: `python tools/train_seg.py` with no argument.
# Synthetic street scenes in the Cityscapes layout with the seven classes road, sidewalk, building,
# vegetation, sky, car and person (generated under datasets/synthetic_streets on first use; the
# generator can add street lights and signs, `furniture=True`, which are too thin for this short
# run) and a small HRNetV2 (on hrnet_w18_small_v1) trained from scratch on the CPU, evaluated on
# whole 256x128 images. Adam converges faster than the official SGD here, from scratch and in
# 375 iterations; OHEM keeps the hard pixels (people, edges) in the loss.
_base_ = ["../_base_/models/seg_hrnetv2.py", "../_base_/datasets/cityscapes.py"]
work_dir = "work_dirs/seg_synthetic_mini"
model = dict(name="seg_hrnetv2_w18_small_v1", num_classes=19)
data = dict(
    root="datasets/synthetic_streets",
    synthetic=dict(num_train=200, num_val=50, size=[128, 256], seed=0, furniture=False),
    crop_size=[128, 256],
    base_size=256,
    scale_range=[0.75, 1.5],
    batch_size=8,
    num_workers=0,
)
test = dict(mode="whole", base_size=None, crop_size=[512, 1024])  # windows for very large photographs
loss = dict(ohem=True, ohem_thresh=0.7, ohem_min_kept=32768)
optimizer = dict(type="Adam", lr=2e-3, weight_decay=0.0)
schedule = dict(type="poly", power=0.9, warmup_iters=25)
train = dict(max_epochs=15, eval_interval=5, log_interval=5)
