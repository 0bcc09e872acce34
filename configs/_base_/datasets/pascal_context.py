# PASCAL-Context as mmsegmentation's converter prepares it (see datasets/README.md):
# VOCdevkit/VOC2010/{JPEGImages, SegmentationClassContext, ImageSets/SegmentationContext}.
# 59 classes (background ignored) by default; set data.num_classes=60 and model.num_classes=60
# to keep background as class 0. Training and testing: the official HRNet recipe's (hrnet_ocr_520.py).
_base_ = ["./hrnet_ocr_520.py"]
data = dict(
    type="pascal_context",
    root="datasets/VOCdevkit/VOC2010",
    train_split="train",
    val_split="val",
    num_classes=59,
)
test = dict(protocol_dataset="pascal_context")
