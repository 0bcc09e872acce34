# ADE20K as mmsegmentation 0.x trains and tests on it (configs/_base_/datasets/ade20k.py): labels with 0
# ("other") ignored (reduce_zero_label), Resize img_scale (2048, 512), RandomCrop 512x512 (mmseg_pipeline.py); 4
# images per GPU. Test: the whole image after Resize (2048, 512) keep_ratio (the short side 512 where the long
# side allows), no flip.
_base_ = ["./mmseg_pipeline.py"]
data = dict(
    type="ade20k",
    root="datasets/ADEChallengeData2016",
    train_split="training",
    val_split="validation",
    crop_size=[512, 512],
    base_size=2048,
    short_size=512,
    batch_size=4,  # per GPU; 4 GPUs
    num_workers=4,
)
test = dict(mode="whole", base_size=2048, short_size=512, scales=[1.0], flip=False)
