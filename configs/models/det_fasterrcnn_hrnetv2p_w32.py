_base_ = ["../_base_/models/faster_rcnn_hrnetv2p.py"]
model = dict(name="det_fasterrcnn_hrnetv2p_w32")
