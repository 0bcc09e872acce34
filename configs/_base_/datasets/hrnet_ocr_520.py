# The official HRNet-OCR recipes' 520x520 data (PASCAL-Context, ADE20K, COCO-Stuff; the dataset files set
# type, root and splits). Training (lib/datasets/base_dataset.py gen_sample): long side 520 x one of 0.5,
# 0.6, ..., 2.1, black padding, a 520x520 crop, flip. Testing: the published protocol of the dataset
# (test.protocol_dataset; README's evaluation commands: TEST.SCALE_LIST 0.5,0.75,1.0,1.25,1.5,1.75,2.0,
# TEST.FLIP_TEST True): long side 520 x each scale, padded to 520x520 or, above, 520x520 windows at
# stride 346; --cfg-options test.protocol=official for the single-scale one.
data = dict(
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
test = dict(mode="whole", base_size=520, scales=[1.0], flip=False, crop_size=[520, 520], protocol="official_ms")
