# PASCAL-Context (59 classes, background ignored) as mmsegmentation 0.x trains and tests on it
# (configs/_base_/datasets/pascal_context_59.py): Resize img_scale (520, 520) (the long side), RandomCrop
# 480x480 (mmseg_pipeline.py); 4 images per GPU. Test: Resize (520, 520) keep_ratio, then 480x480 windows 320
# apart (the recipe's test_cfg), no flip.
_base_ = ["./mmseg_pipeline.py"]
data = dict(
    type="pascal_context",
    root="datasets/VOCdevkit/VOC2010",
    train_split="train",
    val_split="val",
    num_classes=59,
    crop_size=[480, 480],
    base_size=520,
    short_size=520,
    batch_size=4,  # per GPU; 4 GPUs
    num_workers=4,
)
test = dict(mode="slide", base_size=520, short_size=520, crop_size=[480, 480], stride=[320, 320], scales=[1.0],
            flip=False)
