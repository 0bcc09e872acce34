# PASCAL VOC 2012 with SBD's augmented labels as mmsegmentation 0.x trains and tests on it
# (configs/_base_/datasets/pascal_voc12_aug.py over pascal_voc12.py): training on train.txt (SegmentationClass)
# plus aug.txt (SegmentationClassAug, which its converter writes without VOC's train and val ids): 10,582 images,
# hrseg's train+aug; the 512x512 pipeline (mmseg_512x512.py); tested on VOC's val.
_base_ = ["./mmseg_512x512.py"]
data = dict(type="voc", root="datasets/VOCdevkit/VOC2012", train_split="train+aug", val_split="val")
