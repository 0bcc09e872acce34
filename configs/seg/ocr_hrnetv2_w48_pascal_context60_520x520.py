# HRNetV2-W48 + OCR on PASCAL-Context with background (60 classes).
_base_ = ["./ocr_hrnetv2_w48_pascal_context59_520x520.py"]
model = dict(num_classes=60)
data = dict(num_classes=60)
# The official YAML starts from pretrained_models/hrnetv2_w48_imagenet_pretrained.pth (hrseg.weights).
model.update(pretrained="hrnet_w48.msra_imagenet_v2")
