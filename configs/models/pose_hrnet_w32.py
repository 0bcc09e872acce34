_base_ = ["../_base_/models/pose_hrnet.py"]
model = dict(name="pose_hrnet_w32")
