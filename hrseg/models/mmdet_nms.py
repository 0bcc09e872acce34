"""mmdetection 2.x's ``multiclass_nms``, the last step of its FCOS and Cascade R-CNN tests
(:mod:`hrseg.models.fcos_mmdet`, :mod:`hrseg.models.cascade_rcnn`)."""
from __future__ import annotations

from torch import Tensor
from torchvision.ops import batched_nms

__all__ = ["multiclass_nms"]


def multiclass_nms(boxes: Tensor, scores: Tensor, score_thresh: float, nms_thresh: float,
                   max_num: int) -> dict[str, Tensor]:
    """Every (box, class) of ``scores`` (N, C; no background column) above ``score_thresh`` with the box's
    ``boxes`` row (N, 4), class-wise NMS at ``nms_thresh``, the ``max_num`` best: ``boxes``, ``scores`` (sorted,
    highest first) and ``labels`` counted from 0 (mmdetection's)."""
    index, labels = (scores > score_thresh).nonzero().unbind(dim=1)
    boxes, scores = boxes[index], scores[index, labels]
    keep = batched_nms(boxes, scores, labels, nms_thresh)[:max_num]
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}
