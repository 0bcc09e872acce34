# HRNetV2-W48 + OCR on Cityscapes, the official recipe
# (experiments/cityscapes/seg_hrnet_ocr_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml):
# as the W48 recipe, with the auxiliary (soft object region) loss weighted 0.4 and align_corners=True
# in the model (the test's final resize follows it), as the official OCR code (MODEL.ALIGN_CORNERS defaults to True in
# lib/config/default.py; the W48 YAML sets it False).
_base_ = ["./hrnetv2_w48_cityscapes_1024x512.py"]
model = dict(name="seg_hrnetv2_ocr_w48", num_classes=19, align_corners=True)
loss = dict(aux_weight=0.4)
# The official YAML starts from pretrained_models/hrnetv2_w48_imagenet_pretrained.pth (hrseg.weights).
model.update(pretrained="hrnet_w48.msra_imagenet_v2")
