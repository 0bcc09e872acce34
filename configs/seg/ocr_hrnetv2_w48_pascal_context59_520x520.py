# HRNetV2-W48 + OCR on PASCAL-Context, 59 classes, the official recipe
# (experiments/pascal_ctx/seg_hrnet_ocr_w48_cls59_520x520_sgd_lr1e-3_wd1e-4_bs_16_epoch200.yaml);
# the auxiliary loss is weighted 0.4; align_corners=True in the model (the test's final resize follows it), as the
# official OCR code (MODEL.ALIGN_CORNERS defaults to True in lib/config/default.py).
_base_ = ["./hrnetv2_w48_pascal_context59_520x520.py"]
model = dict(name="seg_hrnetv2_ocr_w48", num_classes=59, align_corners=True)
loss = dict(aux_weight=0.4)
# The official YAML starts from pretrained_models/hrnetv2_w48_imagenet_pretrained.pth (hrseg.weights).
model.update(pretrained="hrnet_w48.msra_imagenet_v2")
