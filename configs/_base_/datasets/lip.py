# LIP human parsing in the layout of its release archives (see hrseg/data/seg/lip.py):
# TrainVal_images/{train,val}_images, TrainVal_parsing_annotations/{train,val}_segmentations,
# {train,val}_id.txt; 20 classes, background (0) trained and evaluated.
# Training: crops of 473x473 from images whose long side is 473 x U(0.5, 1.5), horizontal flip
# swapping left/right arm, leg and shoe (applied by the 'lip' dataset type).
# Testing: long side 473, whole image, flip test with the same swap (the published numbers).
data = dict(
    type="lip",
    root="datasets/LIP",
    train_split="train",
    val_split="val",
    crop_size=[473, 473],
    base_size=473,
    scale_range=[0.5, 1.5],
    flip=True,
    photometric=False,
    batch_size=10,  # per GPU; the official runs use 4 GPUs (40 images per iteration)
    num_workers=4,
)
test = dict(mode="whole", base_size=473, scales=[1.0], flip=True, flip_pairs=[[14, 15], [16, 17], [18, 19]],
            crop_size=[473, 473])
