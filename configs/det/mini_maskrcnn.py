# Mask R-CNN on the CPU: `python tools/train_det.py configs/det/mini_maskrcnn.py`.
# The synthetic COCO-format split of the pose task (people, balls, boxes, signs; its instances
# file carries each object's visible outline as polygons, read off the rendered label map) and
# mini_fasterrcnn.py's small detector with a small mask branch (two 64-channel convs on 14x14 RoIs).
# The val split is evaluated for box and mask AP (mask_AP50 is the mask AP at IoU 0.5).
#
# Scaled for a 2-core CPU (docs/detection.md has the measurements behind each choice):
# - RoIAlign with one sample per bin (sampling_ratio=1) and 64 box samples per image: torchvision's
#   CPU RoIAlign backward was a fifth of a training step; together a step is about 30% shorter.
# - AdamW lr 1e-3 from scratch, 4 epochs, lr / 10 for the last: after 3 epochs mask AP50 0.51
#   against SGD lr 0.02's 0.25 (one thread, the same seed).
# Quiet 2-core AVX2 CPU: 12 min 17 s, mask AP50 0.470, box AP50 0.549 (--seed 1: 14 min 21 s, 0.581 / 0.660).
_base_ = ["./mini_fasterrcnn.py"]
model = dict(name="det_maskrcnn_hrnetv2p_w18_small_v1", mask_channels=64, mask_convs=2, mask_roi_size=14,
             sampling_ratio=1, box_batch_size_per_image=64)
optimizer = dict(type="AdamW", lr=0.001, weight_decay=0.0001)
schedule = dict(milestones=[3])
train = dict(max_epochs=4)
