# Cityscapes fine annotations, laid out as datasets/README.md describes (leftImg8bit/ + gtFine/,
# *_gtFine_labelIds.png mapped to the 19 train ids on the fly, 255 ignored).
# Training: 1024x512 (WxH) crops from frames whose long side is rescaled to 2048 x a random
# scale, horizontal flip (the recipes in configs/seg/ set the official scale grid).
# Testing: whole 2048x1024 frames, one scale, as the official TEST section; the official
# multi-scale + flip test is --cfg-options test.protocol=official_ms.
data = dict(
    type="cityscapes",
    root="datasets/cityscapes",
    train_split="train",
    val_split="val",
    crop_size=[512, 1024],
    base_size=2048,
    scale_range=[0.5, 2.0],
    flip=True,
    photometric=False,
    batch_size=3,  # per GPU; the official runs use 4 GPUs (12 images per iteration)
    num_workers=4,
)
test = dict(mode="whole", base_size=2048, scales=[1.0], flip=False, crop_size=[1024, 2048],
            protocol_dataset="cityscapes")
