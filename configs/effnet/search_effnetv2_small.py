# The reduced search this project's shared 2-core CPU could afford (docs/efficientnet.md):
# search_effnetv2.py on 80 of the 800 training images, evaluated on 50 of the 100 val images,
# 3 epochs per candidate.
_base_ = ["search_effnetv2.py"]
data = dict(train=dict(img_ids=list(range(1, 81))), val=dict(img_ids=list(range(1000001, 1000051))))
schedule = dict(milestones=[3])
train = dict(max_epochs=3, eval_interval=3, log_interval=1000)
