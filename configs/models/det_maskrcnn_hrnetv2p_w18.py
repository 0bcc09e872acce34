_base_ = ["../_base_/models/mask_rcnn_hrnetv2p.py"]
model = dict(name="det_maskrcnn_hrnetv2p_w18")
