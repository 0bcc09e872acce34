_base_ = ["../_base_/models/hrnet.py"]
model = dict(name="hrnet_w18_small_v2")
