# As hrnetv2_w48_pascal_context59_520x520.py with background as class 0 (60 classes).
_base_ = ["./hrnetv2_w48_pascal_context59_520x520.py"]
model = dict(num_classes=60)
data = dict(num_classes=60)
# The official YAML starts from pretrained_models/hrnetv2_w48_imagenet_pretrained.pth (hrseg.weights).
model.update(pretrained="hrnet_w48.msra_imagenet_v2")
