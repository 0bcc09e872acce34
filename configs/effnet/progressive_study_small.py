# The reduced pose study this project's shared 2-core CPU could afford (docs/efficientnet.md):
# progressive_synthetic.py at 64x48 crops (heatmaps 16x12, sigma 1) on 160 of the 800 training
# images, evaluated on 50 of the 100 val images, 9 epochs evaluated every 3; three stages
# 32x24 -> 48x36 -> 64x48 (three epochs each).
_base_ = ["progressive_synthetic.py"]
data = dict(input_size=[64, 48], heatmap_size=[16, 12], sigma=1.0,
            train=dict(img_ids=list(range(1, 161))), val=dict(img_ids=list(range(1000001, 1000051))),
            num_workers=0)
train = dict(max_epochs=9, eval_interval=3, log_interval=1000)
