# mmsegmentation 0.x's schedules (configs/_base_/schedules/schedule_{20,40,80,160}k.py): SGD lr 0.01, momentum
# 0.9, weight decay 5e-4, no gradient clipping; poly, power 0.9, down to min_lr 1e-4 over the run's iterations,
# set before each iteration (mmcv PolyLrUpdaterHook, by_epoch=False); IterBasedRunner: the recipe sets
# train.max_iters (its epochs follow from the loader, the last one cut). Its CrossEntropyLoss averages over every
# pixel, ignored ones included (avg_non_ignore=False); SyncBN over the 4 GPUs (models/fcn_hr18.py norm_cfg).
optimizer = dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=False)
schedule = dict(type="poly", power=0.9, min_lr=1e-4, by_epoch=False, set_after_step=False, warmup_iters=0)
loss = dict(ohem=False, class_weight=None, avg_non_ignore=False)
train = dict(sync_bn=True, grad_clip=None)
