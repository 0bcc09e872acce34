# The base network of the compound-scaling grid search (tools/search_scaling.py) on the synthetic
# pose mini-split: the layout of pose_effhrnet_b0 (W16, one module of 4 BasicBlocks per branch in
# stages 2-4) at the mini-split's 128x96 crops, and the short schedule every candidate shares
# (160 of the 800 training images, 6 epochs: about 2 minutes per candidate on 2 CPU cores), with
# the mini-split's Kaiming initialisation (the official N(0, 0.001) one learns too slowly for it).
_base_ = ["../pose/synthetic_mini.py"]
model = dict(_delete_=True, name="pose_scalable_hrnet", width=16, modules=[1, 1, 1], blocks=[4, 4, 4],
             stage1_blocks=1, stage1_planes=32, stem_width=32, init="kaiming")
data = dict(train=dict(img_ids=list(range(1, 161))))
optimizer = dict(type="Adam", lr=2e-3)
schedule = dict(type="multistep", milestones=[5], gamma=0.1, warmup_iters=10)
train = dict(max_epochs=6, eval_interval=6, log_interval=10)
