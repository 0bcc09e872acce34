_base_ = ["../_base_/models/hrnetv2p.py"]
model = dict(name="hrnetv2p_w32")
