# The training-aware search (tools/search_effnetv2.py) on the synthetic pose mini-split. The base
# layout every candidate starts from: C = 16 (branches 16/32/64/128), one module per stage 2-4,
# 2 blocks per branch, a 32-wide stem and one Bottleneck of 32 planes in stage 1, dense fusions, at
# the mini-split's 128x96 crops with Kaiming initialisation; the search changes each stage's block
# type, kernel, expansion and blocks per branch. The short schedule every candidate shares: 160 of
# the 800 training images, 5 epochs (about a minute per candidate on one CPU thread).
_base_ = ["../pose/synthetic_mini.py"]
model = dict(_delete_=True, name="pose_scalable_hrnet", width=16, modules=[1, 1, 1], blocks=[2, 2, 2],
             stage1_blocks=1, stage1_planes=32, stem_width=32, init="kaiming")
data = dict(train=dict(img_ids=list(range(1, 161))), num_workers=0)
optimizer = dict(type="Adam", lr=2e-3)
schedule = dict(type="multistep", milestones=[4], gamma=0.1, warmup_iters=10)
train = dict(max_epochs=5, eval_interval=5, log_interval=10)
