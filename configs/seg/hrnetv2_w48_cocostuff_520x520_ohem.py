# HRNetV2-W48 on COCO-Stuff 10k, the official recipe of the published file (hrnet_cocostuff_3617_torch04.pth,
# README: 36.2 mIoU single scale, 37.9 multi-scale + flip)
# (experiments/cocostuff/seg_hrnet_w48_520x520_ohem_sgd_lr1e-3_wd1e-4_bs_16_epoch110.yaml): 520x520 crops,
# scales 0.5-2.1, SGD lr 1e-3, momentum 0.9, weight decay 1e-4, poly 0.9, 110 epochs, 16 images per iteration
# (4 per GPU x 4) normalised together by SyncBatchNorm, everything outside the backbone at 10x the lr
# (NONBACKBONE_KEYWORDS ['last_layer']), OHEM; align_corners=True (the YAML leaves the code's default).
_base_ = ["../_base_/models/seg_hrnetv2.py", "../_base_/datasets/cocostuff.py",
          "../_base_/schedules/seg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=171, align_corners=True,
             pretrained="hrnet_w48.msra_imagenet_v2")  # the official hrnetv2_w48_imagenet_pretrained.pth
optimizer = dict(type="SGD", lr=1e-3, head_lr_mult=10.0, momentum=0.9, weight_decay=1e-4, nesterov=False,
                 reference_batch=16)
train = dict(max_epochs=110, eval_interval=10, sync_bn=True)
loss = dict(ohem=True, ohem_thresh=0.9, ohem_min_kept=131072)
