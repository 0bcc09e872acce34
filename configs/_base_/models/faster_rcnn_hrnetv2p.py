# Faster R-CNN HRNetV2p (the official HRNet detection configs): V2p pyramid of 256 channels at
# strides 4..64; anchors of 8 x stride (32..512) with aspect ratios 0.5/1/2; RoIAlign 7x7
# (sampling ratio 2) over the stride 4-32 levels; two 1024-d FC layers; 81 outputs (80 COCO
# classes + background); images resized to a shorter side of 800, longer side at most 1333.
# Test settings of HRNet-Object-Detection configs/hrnet/faster_rcnn_hrnetv2p_w32_1x.py test_cfg:
# RPN 2000 proposals per level before NMS (nms_pre), 2000 kept (max_num), NMS 0.7; boxes with
# score >= 0.05, NMS 0.5, at most 100 per image.
model = dict(name="det_fasterrcnn_hrnetv2p_w32", num_classes=81, min_size=800, max_size=1333,
             out_channels=256, anchor_scale=8, aspect_ratios=[0.5, 1.0, 2.0], representation_size=1024,
             sampling_ratio=2, norm_eval=False, rpn_pre_nms_top_n_test=2000, rpn_post_nms_top_n_test=2000,
             rpn_nms_thresh=0.7, box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100)
