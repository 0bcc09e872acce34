_base_ = ["../_base_/models/seg_hrnetv2.py"]
model = dict(name="seg_hrnetv2_w18")
