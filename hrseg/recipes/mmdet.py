"""mmdetection 2.x's two-stage cascade recipes, field by field (the files its published Cascade Mask R-CNN and
HTC HRNetV2p weights were trained with): ``configs/hrnet/{cascade_mask_rcnn,htc}_hrnetv2p_w*_20e_coco.py`` over
their ``_base_`` models, ``schedule_1x.py`` and ``coco_instance.py``. Data only, as :mod:`hrseg.recipes.official`,
whose tables these join.
"""
from __future__ import annotations

from typing import Any

MMDET = "open-mmlab/mmdetection"
Row = tuple[str, Any, str]


def _cascade(width: int) -> tuple[str, list[Row]]:
    """mmdetection 2.x's Cascade Mask R-CNN HRNetV2p 20e recipe (the published det_cascademaskrcnn files')."""
    where = (f"{MMDET} (2.x) configs/hrnet/cascade_mask_rcnn_hrnetv2p_w{width}_20e_coco.py and its bases "
             "_base_/models/cascade_mask_rcnn_r50_fpn.py (CFG), _base_/schedules/schedule_1x.py (SCHED), "
             "_base_/datasets/coco_instance.py (DATA)")
    return where, [
        ("model.name", f"det_cascademaskrcnn_hrnetv2p_w{width}", "CascadeRCNN: HRNet + HRFPN + CascadeRoIHead, masks"),
        ("model.anchor_scale", 8, "CFG rpn_head.anchor_generator.scales [8]"),
        ("model.aspect_ratios", [0.5, 1.0, 2.0], "CFG rpn_head.anchor_generator.ratios"),
        ("model.representation_size", 1024, "CFG bbox_head[*] Shared2FCBBoxHead fc_out_channels"),
        ("model.rpn_pre_nms_top_n_test", 1000, "CFG test_cfg.rpn.nms_pre"),
        ("model.rpn_post_nms_top_n_test", 1000, "CFG test_cfg.rpn.max_per_img"),
        ("model.box_score_thresh", 0.05, "CFG test_cfg.rcnn.score_thr"),
        ("model.box_nms_thresh", 0.5, "CFG test_cfg.rcnn.nms.iou_threshold"),
        ("model.box_detections_per_img", 100, "CFG test_cfg.rcnn.max_per_img"),
        ("model.box_batch_size_per_image", 512, "CFG train_cfg.rcnn[*].sampler.num"),
        ("model.box_positive_fraction", 0.25, "CFG train_cfg.rcnn[*].sampler.pos_fraction"),
        ("model.box_loss_beta", 1.0, "CFG bbox_head[*].loss_bbox SmoothL1Loss beta 1.0 (the RPN's 1/9: torchvision's)"),
        ("model.mmdet_conventions", True, "CFG roi_layer RoIAlign sampling_ratio 0 (mmcv: aligned=True); "
         "AnchorGenerator's base anchors unrounded; mask targets by BitmapMasks.crop_and_resize"),
        ("model.min_size", 800, "DATA Resize img_scale (1333, 800)"),
        ("model.max_size", 1333, "DATA Resize img_scale (1333, 800)"),
        ("model.norm_eval", True, "mmdet HRNet backbone: norm_eval=True (default)"),
        ("data.batch_size", 2, "DATA samples_per_gpu 2"),
        ("data.augment.flip_prob", 0.5, "DATA RandomFlip flip_ratio 0.5"),
        ("optimizer.reference_batch", 16, "8 GPUs x 2 (mmdetection's model zoo)"),
        ("optimizer.type", "SGD", "SCHED optimizer"),
        ("optimizer.lr", 0.02, "SCHED optimizer.lr"),
        ("optimizer.momentum", 0.9, "SCHED optimizer.momentum"),
        ("optimizer.weight_decay", 1e-4, "SCHED optimizer.weight_decay"),
        ("schedule.type", "multistep", "SCHED lr_config policy step"),
        ("schedule.milestones", [16, 19], f"cascade_mask_rcnn_hrnetv2p_w{width}_20e_coco.py lr_config.step"),
        ("schedule.step_at_start", False, "mmcv StepLrUpdaterHook: epoch e at gamma ** #(steps <= e)"),
        ("schedule.warmup", "linear", "SCHED lr_config.warmup"),
        ("schedule.warmup_iters", 500, "SCHED lr_config.warmup_iters"),
        ("schedule.warmup_ratio", 0.001, "SCHED lr_config.warmup_ratio"),
        ("train.max_epochs", 20, f"cascade_mask_rcnn_hrnetv2p_w{width}_20e_coco.py runner.max_epochs"),
        ("train.grad_clip", None, "SCHED optimizer_config grad_clip None"),
    ]


def _htc(width: int) -> tuple[str, list[Row]]:
    """mmdetection 2.x's HTC HRNetV2p 20e recipe (the published det_htc files'): the Cascade Mask R-CNN's rows
    with HTC's model, test threshold and semantic branch."""
    where = (f"{MMDET} (2.x) configs/hrnet/htc_hrnetv2p_w{width}_20e_coco.py and its bases "
             "htc/htc_r50_fpn_20e_coco.py, htc_r50_fpn_1x_coco.py (HTC), htc_without_semantic_r50_fpn_1x_coco.py "
             "(CFG), _base_/schedules/schedule_1x.py (SCHED), _base_/datasets/coco_instance.py (DATA)")
    changed = {
        "model.name": ("model.name", f"det_htc_hrnetv2p_w{width}", "HybridTaskCascade: HRNet + HRFPN + "
                       "HybridTaskCascadeRoIHead (interleaved=True, mask_info_flow=True)"),
        "model.box_score_thresh": ("model.box_score_thresh", 0.001, "CFG test_cfg.rcnn.score_thr"),
        "schedule.milestones": ("schedule.milestones", [16, 19], "htc_r50_fpn_20e_coco.py lr_config.step"),
        "train.max_epochs": ("train.max_epochs", 20, "htc_r50_fpn_20e_coco.py runner.max_epochs"),
    }
    return where, [changed.get(r[0], r) for r in _cascade(width)[1]] + [
        ("model.semantic_classes", 183, "HTC semantic_head FusedSemanticHead num_classes"),
        ("model.semantic_loss_weight", 0.2, "HTC semantic_head loss_weight"),
        ("data.train.semantic_dir", "stuffthingmaps/train2017", "HTC data.train.seg_prefix data_root + "
         "'stuffthingmaps/train2017/'"),
    ]


_STAGES = [
    ("stages: MaxIoUAssigner pos = neg = min_pos IoU 0.5 / 0.6 / 0.7 (no low-quality matches), ground truth added "
     "to the proposals, stage_loss_weights [1, 0.5, 0.25], target stds 0.1/0.2, 0.05/0.1, 0.033/0.067",
     "hrseg.models.cascade_rcnn STAGE_IOUS, STAGE_LOSS_WEIGHTS, CASCADE_STDS", "same"),
    ("mask targets: the ground-truth mask cut by RoIAlign with aligned=True, binarised at 0.5 "
     "(BitmapMasks.crop_and_resize)",
     "the same with model.mmdet_conventions (hrseg.models.rcnn_heads.mask_targets)", "same"),
]
# recipe name -> what a config field cannot say (official, hrseg, why), merged into official.NOT_IN_CONFIG
MMDET_NOTES: dict[str, list[tuple[str, str, str]]] = {
    "Cascade Mask R-CNN W32 20e": _STAGES,
    "HTC W32 20e": _STAGES + [
        ("interleaved: each stage's mask head trains on a new assignment and sample of the stage's refined boxes; "
         "mask_info_flow: HTCMaskHead conv_res (1x1 + ReLU) adds the previous stage's mask features",
         "hrseg.models.cascade_rcnn CascadeRoIHeads.add_hybrid", "same"),
        ("semantic labels: LoadAnnotations with_seg, Resize (nearest), Pad (size_divisor 32, 255), "
         "SegRescale(1/8); FusedSemanticHead loss nn.CrossEntropyLoss(ignore_index=255) x 0.2",
         "the same (hrseg.models.fused_semantic: semantic_labels, semantic_loss)", "same"),
    ],
}
# recipe name -> (task, config under configs/, (mmdetection files, rows)), merged into official.OFFICIAL
MMDET_RECIPES: dict[str, tuple[str, str, tuple[str, list[Row]]]] = {
    "Cascade Mask R-CNN W32 20e": ("det", "det/cascade_mask_rcnn_hrnetv2p_w32_20e_coco.py", _cascade(32)),
    "HTC W32 20e": ("det", "det/htc_hrnetv2p_w32_20e_coco.py", _htc(32)),
}
