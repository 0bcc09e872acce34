# PASCAL-Context as mmsegmentation's converter prepares it (see datasets/README.md):
# VOCdevkit/VOC2010/{JPEGImages, SegmentationClassContext, ImageSets/SegmentationContext}.
# 59 classes (background ignored) by default; set data.num_classes=60 and model.num_classes=60
# to keep background as class 0.
# Training: the official HRNet recipe, 520x520 crops, long side 520 x one of 0.5, 0.6, ..., 2.1
# (lib/datasets/base_dataset.py gen_sample), black padding, flip.
# Testing: the published protocol (README's evaluation command: TEST.SCALE_LIST
# 0.5,0.75,1.0,1.25,1.5,1.75,2.0, TEST.FLIP_TEST True): long side 520 x each scale, padded to
# 520x520 or, above, 520x520 windows at stride 346; --cfg-options test.protocol=official for the
# single-scale one.
data = dict(
    type="pascal_context",
    root="datasets/VOCdevkit/VOC2010",
    train_split="train",
    val_split="val",
    num_classes=59,
    crop_size=[520, 520],
    base_size=520,
    scale_range=[0.5, 2.1],
    scale_step=0.1,
    pad_value=[0, 0, 0],
    flip=True,
    photometric=False,
    batch_size=4,  # per GPU; the official runs use 4 GPUs (16 images per iteration)
    num_workers=4,
)
test = dict(mode="whole", base_size=520, scales=[1.0], flip=False, crop_size=[520, 520],
            protocol="official_ms", protocol_dataset="pascal_context")
