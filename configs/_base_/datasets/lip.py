# LIP human parsing in the layout of its release archives (see hrseg/data/seg/lip.py):
# TrainVal_images/{train,val}_images, TrainVal_parsing_annotations/{train,val}_segmentations,
# {train,val}_id.txt; 20 classes, background (0) trained and evaluated.
# Training, as the official code (lib/datasets/lip.py __getitem__, base_dataset.py gen_sample):
# horizontal flip swapping left/right arm, leg and shoe (applied by the 'lip' dataset type), the
# image squashed to 473x473 (aspect not kept), rescaled by one of 0.5, 0.6, ..., 1.6
# (0.5 + random.randint(0, SCALE_FACTOR 11) / 10), padded with black, a 473x473 crop.
# Testing: the published protocol (README: DATASET.TEST_SET list/lip/testvalList.txt,
# TEST.FLIP_TEST True, one scale): the image squashed to 473x473, the logits of it and of its
# mirror (sides swapped) averaged, exp, resized back to the image (test.protocol_dataset="lip").
data = dict(
    type="lip",
    root="datasets/LIP",
    train_split="train",
    val_split="val",
    crop_size=[473, 473],
    base_size=473,
    squash=True,
    scale_range=[0.5, 1.6],
    scale_step=0.1,
    pad_value=[0, 0, 0],
    flip=True,
    photometric=False,
    batch_size=10,  # per GPU; the official runs use 4 GPUs (40 images per iteration)
    num_workers=4,
)
test = dict(mode="whole", base_size=473, scales=[1.0], flip=True, flip_pairs=[[14, 15], [16, 17], [18, 19]],
            crop_size=[473, 473], protocol="official", protocol_dataset="lip")
