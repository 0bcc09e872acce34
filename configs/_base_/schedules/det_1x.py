# The COCO "1x" schedule of the official HRNet detection configs: SGD, lr 0.02 for 16 images per
# step (scale it linearly with your total batch), momentum 0.9, weight decay 1e-4; x0.1 at
# epochs 8 and 11 of 12; linear warmup over 500 iterations from lr/3; gradient norm clipped at 35.
optimizer = dict(type="SGD", lr=0.02, momentum=0.9, weight_decay=1e-4)
schedule = dict(type="multistep", milestones=[8, 11], gamma=0.1, warmup_iters=500, warmup_ratio=1.0 / 3)
train = dict(max_epochs=12, eval_interval=1, grad_clip=35.0, best_metric="AP")
