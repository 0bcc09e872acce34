# ADE20K as mmsegmentation 0.x trains and tests on it (configs/_base_/datasets/ade20k.py): labels with 0
# ("other") ignored (reduce_zero_label), the 512x512 pipeline (mmseg_512x512.py).
_base_ = ["./mmseg_512x512.py"]
data = dict(type="ade20k", root="datasets/ADEChallengeData2016", train_split="training", val_split="validation")
