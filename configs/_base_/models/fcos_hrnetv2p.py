# FCOS HRNetV2p (mmdetection's fcos_hrnetv2p_*_gn-head configs): the V2p pyramid with stride-2
# level convs (levels at strides 8..128), torchvision's FCOS head with 4 GroupNorm convs per
# branch; 81 outputs; shorter side 800, longer side at most 1333. Test settings of
# mmdetection's fcos_r50_caffe_fpn_gn-head_1x_coco.py test_cfg: 1000 candidates per level
# (nms_pre), score >= 0.05, NMS 0.5, at most 100 per image.
model = dict(name="det_fcos_hrnetv2p_w32", num_classes=81, min_size=800, max_size=1333,
             out_channels=256, num_convs=4, norm_eval=False, topk_candidates=1000, score_thresh=0.05,
             nms_thresh=0.5, detections_per_img=100)
