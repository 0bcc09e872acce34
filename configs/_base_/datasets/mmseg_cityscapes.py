# Cityscapes as mmsegmentation 0.x trains and tests on it (configs/_base_/datasets/cityscapes.py): Resize
# img_scale (2048, 1024), RandomCrop 512x1024 (mmseg_pipeline.py); 2 images per GPU. Test: the whole frame,
# Resize (2048, 1024) keep_ratio (the frame as it is), no flip. The same files as the official recipes
# (datasets/README.md).
_base_ = ["./mmseg_pipeline.py"]
data = dict(
    type="cityscapes",
    root="datasets/cityscapes",
    train_split="train",
    val_split="val",
    crop_size=[512, 1024],
    base_size=2048,
    short_size=1024,
    batch_size=2,  # per GPU; mmsegmentation's runs use 4 GPUs (8 images per iteration)
    num_workers=2,
)
test = dict(mode="whole", base_size=2048, short_size=1024, scales=[1.0], flip=False, crop_size=[1024, 2048])
