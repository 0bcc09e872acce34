# The official pose schedule (deep-high-resolution-net.pytorch experiments/coco/hrnet/*.yaml and
# tools/train.py): Adam, lr 1e-3 (the YAML's WD 1e-4 is not passed to Adam by lib/utils/utils.py
# get_optimizer), x0.1 at epochs 170 and 200, 210 epochs. tools/train.py calls
# lr_scheduler.step() at the start of every epoch, so the lr drops after 169 and 199 epochs
# (step_at_start). Validation after every epoch (it only decides best.pth).
optimizer = dict(type="Adam", lr=1e-3, weight_decay=0.0)
schedule = dict(type="multistep", milestones=[170, 200], gamma=0.1, step_at_start=True)
train = dict(max_epochs=210, eval_interval=1)
