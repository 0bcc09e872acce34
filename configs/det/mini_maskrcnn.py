# Mask R-CNN on the CPU: `python tools/train_det.py configs/det/mini_maskrcnn.py`.
# The synthetic COCO-format split of the pose task (people, balls, boxes, signs; its instances
# file carries each object's visible outline as polygons, read off the rendered label map) and
# mini_fasterrcnn.py's small detector with a small mask branch (two 64-channel convs on 14x14 RoIs).
# The val split is evaluated for box and mask AP (mask_AP50 is the mask AP at IoU 0.5).
_base_ = ["./mini_fasterrcnn.py"]
model = dict(name="det_maskrcnn_hrnetv2p_w18_small_v1", mask_channels=64, mask_convs=2, mask_roi_size=14)
