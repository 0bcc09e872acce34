# HRNetV2-W48 on PASCAL-Context, 59 classes, the official recipe
# (experiments/pascal_ctx/seg_hrnet_w48_cls59_520x520_sgd_lr1e-3_wd1e-4_bs_16_epoch200.yaml):
# 520x520 crops, SGD lr 1e-3, momentum 0.9, weight decay 1e-4, poly 0.9, 200 epochs, 16 images per
# iteration (4 per GPU x 4) normalised together by SyncBatchNorm; everything outside the backbone
# learns at 10x the lr (the official NONBACKBONE_MULT). Tested with the published seven scales + flip.
_base_ = ["../_base_/models/seg_hrnetv2.py", "../_base_/datasets/pascal_context.py",
          "../_base_/schedules/seg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=59)
optimizer = dict(type="SGD", lr=1e-3, head_lr_mult=10.0, momentum=0.9, weight_decay=1e-4, nesterov=False,
                 reference_batch=16)
train = dict(max_epochs=200, eval_interval=10, sync_bn=True)
# The official YAML starts from pretrained_models/hrnetv2_w48_imagenet_pretrained.pth (hrseg.weights).
model.update(pretrained="hrnet_w48.msra_imagenet_v2")
