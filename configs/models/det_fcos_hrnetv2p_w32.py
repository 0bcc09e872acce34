_base_ = ["../_base_/models/fcos_hrnetv2p.py"]
model = dict(name="det_fcos_hrnetv2p_w32")
