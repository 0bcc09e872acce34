# HRNetV2-W48 on LIP, the official recipe
# (HRNet-Semantic-Segmentation experiments/lip/seg_hrnet_w48_473x473_sgd_lr7e-3_wd5e-4_bs_40_epoch150.yaml):
# 473x473 crops, SGD lr 7e-3, momentum 0.9, weight decay 5e-4, poly 0.9, 150 epochs, 40 images per
# iteration (10 per GPU x 4), flip test. Published: 55.83 mIoU on LIP val (hrnet_lip_5583_torch04.pth).
# Images squashed to 473x473 in training and test, scales 0.5-1.6, black padding, the official LIP
# test (configs/_base_/datasets/lip.py); every field against the official one: docs/recipes.md.
_base_ = ["../_base_/models/seg_hrnetv2.py", "../_base_/datasets/lip.py",
          "../_base_/schedules/seg_poly.py"]
model = dict(name="seg_hrnetv2_w48", num_classes=20,
             pretrained="hrnet_w48.msra_imagenet_v2")  # the official hrnetv2_w48_imagenet_pretrained.pth
optimizer = dict(type="SGD", lr=7e-3, momentum=0.9, weight_decay=5e-4, nesterov=False, reference_batch=40)
train = dict(max_epochs=150, eval_interval=10, sync_bn=True)
