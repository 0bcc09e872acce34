# The reduced pose study this project's shared 2-core CPU could afford (docs/efficientnet.md):
# progressive_synthetic.py on 80 of the 800 training images, evaluated on 50 of the 100 val
# images, 6 epochs evaluated every 3, three stages 64x48 -> 96x72 -> 128x96 (two epochs each).
_base_ = ["progressive_synthetic.py"]
data = dict(train=dict(img_ids=list(range(1, 81))), val=dict(img_ids=list(range(1000001, 1000051))),
            num_workers=0)
schedule = dict(milestones=[5])
train = dict(max_epochs=6, eval_interval=3, log_interval=1000)
