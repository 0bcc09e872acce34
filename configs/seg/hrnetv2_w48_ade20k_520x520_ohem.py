# HRNetV2-W48 on ADE20K, the official recipe of the published file (hrnet_ade20k_4312_torch04.pth, README:
# 43.1 mIoU single scale, 44.2 multi-scale + flip)
# (experiments/ade20k/seg_hrnet_w48_520x520_ohem_sgd_lr2e-2_wd1e-4_bs_16_epoch120.yaml): 520x520 crops,
# scales 0.5-1.6, SGD lr 0.02, momentum 0.9, weight decay 1e-4, poly 0.9, 120 epochs, 16 images per iteration
# (4 per GPU x 4) normalised together by SyncBatchNorm, one lr for every parameter, OHEM;
# align_corners=True, the HRNet-OCR code's default (the YAML leaves it). Every field: docs/recipes.md.
_base_ = ["../_base_/models/seg_hrnetv2.py", "../_base_/datasets/ade20k.py",
          "../_base_/schedules/seg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=150, align_corners=True,
             pretrained="hrnet_w48.msra_imagenet_v2")  # the official hrnetv2_w48_imagenet_pretrained.pth
data = dict(scale_range=[0.5, 1.6])  # YAML TRAIN.SCALE_FACTOR 11
optimizer = dict(type="SGD", lr=0.02, head_lr_mult=1.0, momentum=0.9, weight_decay=1e-4, nesterov=False,
                 reference_batch=16)
train = dict(max_epochs=120, eval_interval=10, sync_bn=True)
loss = dict(ohem=True, ohem_thresh=0.9, ohem_min_kept=131072)
