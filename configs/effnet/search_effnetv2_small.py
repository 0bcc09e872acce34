# The reduced search this project's shared 2-core CPU could afford (docs/efficientnet.md):
# search_effnetv2.py at 64x48 crops (heatmaps 16x12) on 160 of the 800 training images, evaluated
# on 50 of the 100 val images, 6 epochs per candidate.
_base_ = ["search_effnetv2.py"]
data = dict(input_size=[64, 48], heatmap_size=[16, 12], sigma=1.0,
            val=dict(img_ids=list(range(1000001, 1000051))))
schedule = dict(milestones=[5])
train = dict(max_epochs=6, eval_interval=6, log_interval=1000)
