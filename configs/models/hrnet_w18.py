_base_ = ["../_base_/models/hrnet.py"]
model = dict(name="hrnet_w18")
