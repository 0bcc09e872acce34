# Progressive learning on the synthetic pose mini-split (tools/progressive_experiment.py trains
# this config twice: with `progressive.enabled` False and True, the same epochs otherwise).
# Three stages: 64x48 -> 96x72 -> 128x96 crops (heatmaps 16x12 -> 24x18 -> 32x24, sigma scaled
# with them), with dropout before the head, RandAugment and heatmap Mixup growing alongside.
_base_ = ["../pose/synthetic_mini.py"]
data = dict(train=dict(img_ids=list(range(1, 401))))  # the first 400 of the 800 training images
optimizer = dict(type="Adam", lr=2e-3)
schedule = dict(type="multistep", milestones=[7], gamma=0.1, warmup_iters=10)
train = dict(max_epochs=9, eval_interval=3, log_interval=10)
progressive = dict(enabled=True, num_stages=3, min_scale=0.5, size_divisor=16,
                   dropout=[0.0, 0.1], randaugment=[0, 9], randaugment_ops=2, mixup=[0.0, 0.2])
