"""torchvision's ``RoIHeads`` with the RoI box loss's smooth-L1 ``beta`` and the mask targets' kind as options.

torchvision's ``fastrcnn_loss`` fixes beta at 1/9 (Detectron's value, also the RPN's); the official
HRNet detection configs (mmdetection 1.x ``BBoxHead``) train the RoI boxes with beta 1.0
(``model.box_loss_beta``). Otherwise the loss is torchvision's: cross-entropy over the sampled RoIs,
smooth L1 of the positive RoIs' deltas for their ground-truth class, summed and divided by the
number of sampled RoIs (mmdetection's ``avg_factor``). The mask loss is torchvision's on torchvision's
targets, mmdetection 2.x's (``model.mmdet_conventions``) or HRNet-Object-Detection's (mmdetection 1.x):
:func:`mask_targets`, ``model.mask_targets``. Inference is torchvision's, untouched.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import roi_align

__all__ = ["MASK_TARGETS", "TORCHVISION_BOX_BETA", "RCNNRoIHeads", "box_loss", "mask_loss", "mask_targets"]

TORCHVISION_BOX_BETA = 1.0 / 9
MASK_TARGETS = ("torchvision", "mmdet", "mmdet1")  # mask_targets' kinds


def box_loss(class_logits: torch.Tensor, box_regression: torch.Tensor, labels: list[torch.Tensor],
             regression_targets: list[torch.Tensor], beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The classification and box-regression losses of the sampled RoIs (module docstring); the regression
    class-specific (``num_classes * 4`` columns) or class-agnostic (4, Cascade R-CNN's)."""
    labels_all, targets = torch.cat(labels), torch.cat(regression_targets)
    classification = F.cross_entropy(class_logits, labels_all)
    positive = torch.where(labels_all > 0)[0]
    deltas = box_regression.reshape(len(class_logits), -1, 4)  # class-specific, or one class-agnostic row
    deltas = deltas[positive, labels_all[positive]] if deltas.shape[1] > 1 else deltas[positive, 0]
    regression = F.smooth_l1_loss(deltas, targets[positive], beta=beta, reduction="sum") / labels_all.numel()
    return classification, regression


def mask_targets(gt_masks: torch.Tensor, boxes: torch.Tensor, matched: torch.Tensor, size: int,
                 kind: str = "torchvision") -> torch.Tensor:
    """The ``size`` x ``size`` targets of RoIs ``boxes`` cut from their matched ground-truth masks, by ``kind``
    (:data:`MASK_TARGETS`): torchvision's (RoIAlign ``aligned=False``, soft), mmdetection 2.x's
    (``BitmapMasks.crop_and_resize``: ``aligned=True``, binarised at 0.5) or HRNet-Object-Detection's
    (mmdetection 1.x ``mask_target_single``: the box's integer crop, ``x1, y1`` truncated and ``x2, y2``
    included, of the uint8 mask resized bilinearly by ``mmcv.imresize``, on the CPU)."""
    if kind == "mmdet1":
        return _crop_and_resize_uint8(gt_masks, boxes, matched, size)
    rois = torch.cat([matched[:, None].to(boxes), boxes], dim=1)
    mmdet = kind == "mmdet"
    cut = roi_align(gt_masks[:, None].to(rois), rois, (size, size), 1.0, aligned=mmdet)[:, 0]
    return (cut >= 0.5).to(cut.dtype) if mmdet else cut


def _crop_and_resize_uint8(gt_masks: torch.Tensor, boxes: torch.Tensor, matched: torch.Tensor,
                           size: int) -> torch.Tensor:
    masks = gt_masks.detach().to("cpu", torch.uint8).numpy()
    targets = []
    for (x1, y1, x2, y2), index in zip(boxes.detach().cpu().numpy().astype(np.int32), matched.cpu().numpy()):
        w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        targets.append(cv2.resize(masks[index][y1:y1 + h, x1:x1 + w], (size, size), interpolation=cv2.INTER_LINEAR))
    if not targets:
        return boxes.new_zeros((0, size, size))
    return torch.from_numpy(np.stack(targets)).to(boxes.device, boxes.dtype)


def mask_loss(mask_logits: torch.Tensor, proposals: list[torch.Tensor], gt_masks: list[torch.Tensor],
              gt_labels: list[torch.Tensor], matched: list[torch.Tensor], kind: str = "torchvision") -> torch.Tensor:
    """torchvision's ``maskrcnn_loss`` (binary cross-entropy of each RoI's mask of its class, averaged) on
    :func:`mask_targets`."""
    labels = torch.cat([lab[idx] for lab, idx in zip(gt_labels, matched)])
    targets = torch.cat([mask_targets(m, p, i, mask_logits.shape[-1], kind)
                         for m, p, i in zip(gt_masks, proposals, matched)])
    if targets.numel() == 0:
        return mask_logits.sum() * 0
    return F.binary_cross_entropy_with_logits(mask_logits[torch.arange(len(labels), device=labels.device), labels],
                                              targets)


class RCNNRoIHeads(RoIHeads):
    """torchvision's box (and mask) RoI heads trained with :func:`box_loss` at ``box_loss_beta``. Made by
    re-classing a Faster / Mask R-CNN's heads (no parameter changes). The keypoint branch is the
    multi-task model's (:class:`~hrseg.models.multitask_heads.MultiRoIHeads`)."""

    box_loss_beta: float = TORCHVISION_BOX_BETA
    mask_target_kind: str = "torchvision"  # mask_targets' kind (model.mmdet_conventions, model.mask_targets)

    def forward(self, features, proposals, image_shapes, targets=None):  # noqa: D102 - torchvision's signature
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        proposals, matched_idxs, labels, losses = self.box_losses(features, proposals, image_shapes, targets)
        if self.has_mask():
            losses["loss_mask"] = self.mask_loss(features, proposals, matched_idxs, labels, targets, image_shapes,
                                                 [True] * len(targets), None)
        return [], losses

    def box_losses(self, features, proposals, image_shapes, targets):
        """The sampled RoIs (proposals, matched ground truth, labels) and their box losses."""
        proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        loss_classifier, loss_box_reg = box_loss(class_logits, box_regression, labels, regression_targets,
                                                 self.box_loss_beta)
        return proposals, matched_idxs, labels, {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}

    def mask_loss(self, features, proposals, matched_idxs, labels, targets, image_shapes, keep, limit):
        """torchvision's mask loss on the positive RoIs of the images ``keep`` says have masks, at most
        ``limit`` per image (None: all)."""
        rois, matched = self.positives(proposals, matched_idxs, labels, keep, limit)
        logits = self.mask_predictor(self.mask_head(self.mask_roi_pool(features, rois, image_shapes)))
        return mask_loss(logits, rois, [t["masks"] for t in targets], [t["labels"] for t in targets], matched,
                         self.mask_target_kind)

    @staticmethod
    def positives(proposals, matched_idxs, labels, keep, limit, labelled=None):
        """Per image the positive RoIs (and their matched ground truth) a branch trains on: none where
        ``keep`` is False, those matched to a ``labelled`` instance where given, the first ``limit``."""
        rois, matched = [], []
        for i, (boxes, idx, lab) in enumerate(zip(proposals, matched_idxs, labels)):
            pos = torch.where(lab > 0)[0]
            if labelled is not None and len(pos):
                pos = pos[labelled[i][idx[pos]]] if len(labelled[i]) else pos[:0]
            if not keep[i]:
                pos = pos[:0]
            if limit is not None:
                pos = pos[:limit]
            rois.append(boxes[pos])
            matched.append(idx[pos])
        return rois, matched
