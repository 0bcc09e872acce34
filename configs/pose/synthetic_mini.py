# The embedded default: `python tools/train_pose.py` with no argument.
# A synthetic COCO-format person-keypoint split (articulated figures with the 17 COCO joints,
# generated under datasets/synthetic_pose on first use) and a small HRNet trained on the CPU
# in five to ten minutes on 2 cores (docs/benchmarks.md, "Main job").
# Short-training choices (measured on the mini-split, see the README): He-normal init instead of
# the official N(0, 0.001) (3x the AP after 240 iterations with Adam), batch 16 for more updates
# per second, sigma 1 at the 32x24 heatmap, milder rotation and no half-body crops.
# The figures' left and right limbs have different colour tones, a cue that horizontal flipping
# would turn into label noise, so neither flip augmentation nor flip test is used here.
_base_ = ["../models/pose_hrnet_w32.py"]
model = dict(name="pose_hrnet_w18_small_v1", init="kaiming")
data = dict(
    root="datasets/synthetic_pose",
    synthetic=dict(),  # the generator's defaults: 800 train + 100 val images of 256x256
    input_size=[128, 96],
    heatmap_size=[32, 24],
    sigma=1.0,
    batch_size=16,
    val_batch_size=64,
    num_workers=1,
    augment=dict(flip=False, rotation_factor=30, half_body_prob=0.0),
)
test = dict(flip=False)
optimizer = dict(type="Adam", lr=3e-3)
schedule = dict(type="multistep", milestones=[12], gamma=0.1, warmup_iters=50)
train = dict(max_epochs=14, eval_interval=7, log_interval=10)
