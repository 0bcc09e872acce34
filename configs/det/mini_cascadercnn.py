# Cascade R-CNN on the CPU: `python tools/train_det.py configs/det/mini_cascadercnn.py`: mini_fasterrcnn.py's
# small detector and schedule with the three cascade stages in place of its box head (hrseg.models.cascade_rcnn;
# docs/detection.md has the two side by side).
_base_ = ["./mini_fasterrcnn.py"]
model = dict(name="det_cascadercnn_hrnetv2p_w18_small_v1")
