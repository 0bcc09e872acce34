"""Evaluators: COCO boxes, masks and keypoints (pycocotools), segmentation mIoU."""
from hrseg.evaluation.coco_boxes import evaluate_boxes
from hrseg.evaluation.coco_masks import evaluate_masks

__all__ = ["evaluate_boxes", "evaluate_masks"]
