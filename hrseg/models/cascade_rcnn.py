"""Cascade R-CNN and Hybrid Task Cascade on HRNetV2p: mmdetection's published Cascade R-CNN and HTC HRNetV2p
files, and their training.

The box part of mmdetection's ``CascadeRoIHead`` (``configs/_base_/models/cascade_rcnn_r50_fpn.py``, the
base of its HRNet configs): three ``Shared2FCBBoxHead`` stages (two 1024-d FC layers; 81 classes with the
background, which hrseg puts first; class-agnostic box regression), whose box coders' target stds are
(0.1, 0.1, 0.2, 0.2), (0.05, 0.05, 0.1, 0.1) and (0.033, 0.033, 0.067, 0.067) (torchvision's coder weights
are their inverses). The test (mmdetection 2.x ``CascadeRoIHead.simple_test``, which measured the published
APs): each stage pools the current boxes and refines them (decoded, clipped to the image), starting from
the RPN's proposals; the three stages' logits are averaged and their softmax scores the last refinement's
boxes; then every class above 0.05, class-wise NMS at 0.5, 100 per image (``multiclass_nms``). The RPN,
RoIAlign and box features are Faster R-CNN's (:func:`hrseg.models.detection.build_faster_rcnn`), and
mmdetection's conventions (unrounded anchors, aligned RoIAlign, 1000 / 1000 test proposals) come with the
files as for its Faster R-CNN files. Cascade Mask R-CNN (``det_cascademaskrcnn_*``) adds a mask head per
stage (mmdetection's ``FCNMaskHead``, torchvision's ``MaskRCNNHeads`` + ``MaskRCNNPredictor`` as hrseg's Mask
R-CNN): the detected boxes are pooled once (RoIAlign 14x14) and the three heads' sigmoid masks of the
detected class averaged (``merge_aug_masks``), then pasted into the image as Mask R-CNN's.

Training (mmdetection 2.x ``CascadeRoIHead.forward_train``, ``train_cfg.rcnn``): stage ``i`` adds the
ground-truth boxes to its proposals, matches them at IoU ``STAGE_IOUS[i]`` (0.5, 0.6, 0.7; no low-quality
matches), samples 512 RoIs with at most a quarter positive, and trains its classifier (cross-entropy) and
class-agnostic regression (smooth L1 at ``box_loss_beta`` on the positives, divided by the sampled RoIs:
:func:`hrseg.models.rcnn_heads.box_loss`), and its mask head on the positives
(:func:`~hrseg.models.rcnn_heads.mask_loss`),
weighted by ``STAGE_LOSS_WEIGHTS[i]`` (1, 0.5, 0.25); the next stage's proposals are this stage's RoIs
moved by its (detached) regression, clipped to the image, less the ground-truth boxes it sampled
(``refine_bboxes``). Losses are named per stage: ``loss_classifier_0``, ``loss_box_reg_0``, ``loss_mask_0``, ...

Hybrid Task Cascade (``det_htc_*``, mmdetection 2.x's ``HybridTaskCascadeRoIHead`` with ``interleaved=True,
mask_info_flow=True`` and a ``FusedSemanticHead``: :meth:`CascadeRoIHeads.add_hybrid`) is Cascade Mask R-CNN with
three changes. The semantic branch (:mod:`hrseg.models.fused_semantic`) turns the five levels into an embedding at
stride 8, whose RoIAlign is added to every box and mask RoI feature. The mask heads pass information on: stage
``i``'s head takes the pooled features plus a 1x1 conv + ReLU of stage ``i - 1``'s head output (``HTCMaskHead``
``conv_res``), so at test the three heads run in turn on the detected boxes and their sigmoid masks are averaged.
And the training interleaves the branches: each stage's box head trains first, and its mask head trains on a new
assignment and sample of the boxes that stage refined (through the flow from the earlier heads), which are also
the next stage's proposals; ``loss_semantic_seg`` is the semantic branch's. Its test keeps boxes from score 0.001
(mmdetection's HTC ``test_cfg``).
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, BoxCoder, Matcher
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import box_iou, clip_boxes_to_image

from hrseg.models.backbones.hrnet import named_specs
from hrseg.models.detection import DETECTOR_ALIASES, RCNN_OPTIONS, build_faster_rcnn, detector_options, registered_name
from hrseg.models.fused_semantic import FusedSemanticHead, pool_semantic, semantic_labels, semantic_loss
from hrseg.models.mmdet_conventions import AlignedRoIAlign, pool_like
from hrseg.models.mmdet_nms import multiclass_nms
from hrseg.models.rcnn_heads import TORCHVISION_BOX_BETA, RCNNRoIHeads, box_loss, mask_loss
from hrseg.models.registry import ModelInfo, register_model

# The stages' target stds (mmdetection's DeltaXYWHBBoxCoder), as torchvision's coder weights (their inverses)
CASCADE_STDS: tuple[tuple[float, ...], ...] = ((0.1, 0.1, 0.2, 0.2), (0.05, 0.05, 0.1, 0.1),
                                               (0.033, 0.033, 0.067, 0.067))
STAGE_IOUS = (0.5, 0.6, 0.7)  # train_cfg.rcnn[i].assigner: pos_iou_thr = neg_iou_thr = min_pos_iou
STAGE_LOSS_WEIGHTS = (1.0, 0.5, 0.25)  # CascadeRoIHead stage_loss_weights
SEMANTIC = "semantic"  # HTC's semantic embedding among the features (no RoI pool's level name)


class CascadePredictor(nn.Module):
    """A stage's classifier (``num_classes`` with the background) and class-agnostic box regression."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


class CascadeRoIHeads(nn.Module):
    """The three stages in torchvision's ``RoIHeads`` interface (``box_roi_pool`` shared with Faster R-CNN's
    conventions): ``forward(features, proposals, image_shapes)`` gives the detections per image."""

    def __init__(self, box_roi_pool: nn.Module, in_features: int, representation_size: int = 1024,
                 num_classes: int = 81, stds: Sequence[Sequence[float]] = CASCADE_STDS, score_thresh: float = 0.05,
                 nms_thresh: float = 0.5, detections_per_img: int = 100, batch_size_per_image: int = 512,
                 positive_fraction: float = 0.25, box_loss_beta: float = TORCHVISION_BOX_BETA,
                 mask_target_kind: str = "torchvision") -> None:
        super().__init__()
        self.box_roi_pool = box_roi_pool
        self.matchers = [Matcher(iou, iou, allow_low_quality_matches=False) for iou in STAGE_IOUS[:len(stds)]]
        self.sampler = BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)
        self.box_loss_beta = box_loss_beta
        self.mask_target_kind = mask_target_kind  # hrseg.models.rcnn_heads.mask_targets' kind
        self.box_heads = nn.ModuleList(TwoMLPHead(in_features, representation_size) for _ in stds)
        self.box_predictors = nn.ModuleList(CascadePredictor(representation_size, num_classes) for _ in stds)
        self.box_coders = [BoxCoder(tuple(1.0 / s for s in std)) for std in stds]
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.mask_roi_pool: nn.Module | None = None  # Cascade Mask R-CNN: add_masks
        self.mask_heads, self.mask_predictors = nn.ModuleList(), nn.ModuleList()
        # Hybrid Task Cascade: add_hybrid
        self.mask_res, self.interleaved = nn.ModuleList(), False
        self.semantic_head: FusedSemanticHead | None = None
        self.semantic_stride, self.semantic_loss_weight = 0, 0.0  # read only with a semantic head

    def add_masks(self, mask_roi_pool: nn.Module, in_channels: int, num_classes: int, channels: int = 256,
                  convs: int = 4) -> None:
        """A mask head per stage (Cascade Mask R-CNN)."""
        self.mask_roi_pool = mask_roi_pool
        self.mask_heads = nn.ModuleList(MaskRCNNHeads(in_channels, (channels,) * convs, 1) for _ in self.box_heads)
        self.mask_predictors = nn.ModuleList(MaskRCNNPredictor(channels, channels, num_classes) for _ in self.box_heads)

    def add_hybrid(self, semantic: FusedSemanticHead | None, semantic_stride: int,
                   semantic_loss_weight: float) -> None:
        """Hybrid Task Cascade on the mask heads (:meth:`add_masks` first): the mask information flow (stage
        ``i > 0`` adds stage ``i - 1``'s mask features through a 1x1 conv + ReLU), the interleaved training,
        and the ``semantic`` branch (None: HTC without it), whose embedding at ``semantic_stride`` the box and
        mask features add."""
        head, pooled = self.mask_heads[0][-1][0].out_channels, self.mask_heads[0][0][0].in_channels  # 256, 256
        self.mask_res = nn.ModuleList(nn.Sequential(nn.Conv2d(head, pooled, 1), nn.ReLU(inplace=True))
                                      for _ in self.mask_heads[1:])
        self.interleaved, self.semantic_head = True, semantic
        self.semantic_stride, self.semantic_loss_weight = semantic_stride, semantic_loss_weight

    def has_mask(self) -> bool:
        return self.mask_roi_pool is not None

    def forward(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]],
                targets: Any = None) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        losses: dict[str, Tensor] = {}
        if self.semantic_head is not None:  # its embedding rides with the levels, under a name no pool reads
            logits, embedding = self.semantic_head(list(features.values()))
            features = {**features, SEMANTIC: embedding}
            if self.training:
                labels = semantic_labels([t.get("semantic") for t in targets], image_shapes, logits.shape[-2:],
                                         self.semantic_stride, logits.device)
                losses["loss_semantic_seg"] = semantic_loss(logits, labels, self.semantic_loss_weight)
        if self.training:
            return [], {**losses, **self._losses(features, proposals, image_shapes, targets)}
        counts = [p.shape[0] for p in proposals]  # shape, not len(): traced as the graph's, not fixed at the trace's
        boxes, logits = proposals, None
        for head, predictor, coder in zip(self.box_heads, self.box_predictors, self.box_coders):
            stage_logits, deltas = predictor(head(self._pool(self.box_roi_pool, features, boxes, image_shapes)))
            logits = stage_logits if logits is None else logits + stage_logits
            refined = coder.decode_single(deltas, torch.cat(boxes))
            boxes = [clip_boxes_to_image(b, size) for b, size in zip(refined.split(counts), image_shapes)]
        scores = F.softmax(logits / len(self.box_heads), dim=-1).split(counts)
        result = [self._detections(b, s) for b, s in zip(boxes, scores)]
        if self.has_mask():
            self._add_masks(features, result, image_shapes)
        return result, {}

    def _losses(self, features: dict[str, Tensor], proposals: list[Tensor], image_shapes: list[tuple[int, int]],
                targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Every stage's weighted losses (module docstring)."""
        losses: dict[str, Tensor] = {}
        stages = zip(self.matchers, self.box_heads, self.box_predictors, self.box_coders, STAGE_LOSS_WEIGHTS)
        for i, (matcher, head, predictor, coder, weight) in enumerate(stages):
            rois, matched, labels, is_gt = self._sample(matcher, proposals, targets)
            gt_boxes = [t["boxes"][m] if len(t["boxes"]) else torch.zeros_like(r)
                        for t, m, r in zip(targets, matched, rois)]
            regression_targets = coder.encode(gt_boxes, rois)
            logits, deltas = predictor(head(self._pool(self.box_roi_pool, features, rois, image_shapes)))
            loss_cls, loss_box = box_loss(logits, deltas, labels, regression_targets, self.box_loss_beta)
            losses[f"loss_classifier_{i}"], losses[f"loss_box_reg_{i}"] = weight * loss_cls, weight * loss_box
            if i + 1 < len(self.box_heads) or self.interleaved:  # the next stage's proposals, HTC's mask RoIs
                refined = coder.decode_single(deltas.detach(), torch.cat(rois)).split([len(r) for r in rois])
                proposals = [clip_boxes_to_image(b[~gt], size) for b, gt, size in zip(refined, is_gt, image_shapes)]
            if self.has_mask():
                if self.interleaved:  # HTC: the mask head trains on a new sample of the refined boxes
                    rois, matched, labels, _ = self._sample(matcher, proposals, targets)
                positive, positive_matched = RCNNRoIHeads.positives(rois, matched, labels, [True] * len(rois), None)
                pooled = self._pool(self.mask_roi_pool, features, positive, image_shapes)
                losses[f"loss_mask_{i}"] = weight * mask_loss(self._mask_logits(pooled, range(i, i + 1))[0], positive,
                                                              [t["masks"] for t in targets],
                                                              [t["labels"] for t in targets], positive_matched,
                                                              self.mask_target_kind)
        return losses

    def _pool(self, pool: nn.Module, features: dict[str, Tensor], boxes: list[Tensor],
              image_shapes: list[tuple[int, int]]) -> Tensor:
        """The boxes' RoI features from ``pool`` (the box or the mask branch's), plus the semantic embedding's
        (HTC), pooled under the same conventions."""
        pooled = pool(features, boxes, image_shapes)
        if SEMANTIC in features:
            pooled = pooled + pool_semantic(features[SEMANTIC], boxes, pool.output_size[0], self.semantic_stride,
                                            isinstance(pool, AlignedRoIAlign))
        return pooled

    def _mask_logits(self, pooled: Tensor, stages: range) -> list[Tensor]:
        """The mask logits of ``stages``; with HTC's information flow the heads before them run too, each
        stage's head taking the pooled features plus its 1x1 conv of the previous head's output."""
        flow, out = None, []
        for i in range(0 if len(self.mask_res) else stages.start, stages.stop):
            x = self.mask_heads[i](pooled if flow is None else pooled + self.mask_res[i - 1](flow))
            flow = x if len(self.mask_res) else None
            if i in stages:
                out.append(self.mask_predictors[i](x))
        return out

    def _sample(self, matcher: Matcher, proposals: list[Tensor], targets: list[dict[str, Tensor]]
                ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """Per image the sampled RoIs among the proposals + ground-truth boxes, the ground truth each is matched
        to, its label (0: background) and whether it is a ground-truth box."""
        candidates, matched, labels = [], [], []
        for boxes, target in zip(proposals, targets):
            gt = target["boxes"]
            candidates.append(torch.cat([boxes, gt]))
            if len(gt):
                index = matcher(box_iou(gt, candidates[-1]))  # -1: below the threshold, background
                matched.append(index.clamp(min=0))
                labels.append(torch.where(index >= 0, target["labels"][index.clamp(min=0)], 0))
            else:
                matched.append(torch.zeros(len(candidates[-1]), dtype=torch.int64, device=gt.device))
                labels.append(torch.zeros(len(candidates[-1]), dtype=torch.int64, device=gt.device))
        positive, negative = self.sampler(labels)
        keep = [torch.where(pos | neg)[0] for pos, neg in zip(positive, negative)]
        return ([c[k] for c, k in zip(candidates, keep)], [m[k] for m, k in zip(matched, keep)],
                [lab[k] for lab, k in zip(labels, keep)], [k >= len(p) for k, p in zip(keep, proposals)])

    def _add_masks(self, features: dict[str, Tensor], result: list[dict[str, Tensor]],
                   image_shapes: list[tuple[int, int]]) -> None:
        """``masks`` (N, 1, 28, 28): the stages' sigmoid masks of each detection's class, averaged."""
        pooled = self._pool(self.mask_roi_pool, features, [r["boxes"] for r in result], image_shapes)
        labels = torch.cat([r["labels"] for r in result])
        rows = torch.arange(labels.shape[0], device=labels.device)  # shape: the exported graph's count (above)
        stages = range(len(self.mask_heads))
        probs = sum(logits[rows, labels].sigmoid() for logits in self._mask_logits(pooled, stages)) / len(stages)
        for r, masks in zip(result, probs[:, None].split([r["labels"].shape[0] for r in result])):
            r["masks"] = masks

    def _detections(self, boxes: Tensor, scores: Tensor) -> dict[str, Tensor]:
        """``multiclass_nms`` of the classes' scores (the background's, column 0, left out); labels 1..K."""
        found = multiclass_nms(boxes, scores[:, 1:], self.score_thresh, self.nms_thresh, self.detections_per_img)
        return {**found, "labels": found["labels"] + 1}


class HRNetCascadeRCNN(FasterRCNN):
    """Faster R-CNN's RPN and RoIAlign on a :class:`~hrseg.models.detection.PyramidBackbone` with
    :class:`CascadeRoIHeads`."""

    checkpoint_aliases: ClassVar[dict[str, str]] = DETECTOR_ALIASES


@detector_options("det_cascadercnn", RCNN_OPTIONS, build_faster_rcnn)
def build_cascade_rcnn(hrnet_name: str, num_classes: int = 81, representation_size: int = 1024,
                       **options: Any) -> HRNetCascadeRCNN:
    """Cascade R-CNN HRNetV2p: :func:`~hrseg.models.detection.build_faster_rcnn`'s detector (its ``options``)
    with the three cascade stages in place of its box head (``box_score_thresh``, ``box_nms_thresh`` and
    ``box_detections_per_img`` are the cascade's test settings)."""
    faster = build_faster_rcnn(hrnet_name, num_classes, representation_size=representation_size, **options)
    model = HRNetCascadeRCNN.__new__(HRNetCascadeRCNN)
    model.__dict__ = faster.__dict__  # the same transform, backbone and RPN
    heads = faster.roi_heads
    in_features = heads.box_head.fc6.in_features
    model.roi_heads = CascadeRoIHeads(heads.box_roi_pool, in_features, representation_size, num_classes,
                                      score_thresh=heads.score_thresh, nms_thresh=heads.nms_thresh,
                                      detections_per_img=heads.detections_per_img,
                                      batch_size_per_image=heads.fg_bg_sampler.batch_size_per_image,
                                      positive_fraction=heads.fg_bg_sampler.positive_fraction,
                                      box_loss_beta=heads.box_loss_beta,
                                      mask_target_kind=heads.mask_target_kind)  # the Faster R-CNN builder's
    return model


@detector_options("det_cascademaskrcnn", RCNN_OPTIONS, build_faster_rcnn, build_cascade_rcnn)
def build_cascade_mask_rcnn(hrnet_name: str, num_classes: int = 81, mask_roi_size: int = 14,
                            **options: Any) -> HRNetCascadeRCNN:
    """Cascade Mask R-CNN HRNetV2p: :func:`build_cascade_rcnn`'s detector with a mask head per stage
    (RoIAlign ``mask_roi_size`` over the stride 4-32 levels, 4 convs of 256 channels, 28x28 masks)."""
    model = build_cascade_rcnn(hrnet_name, num_classes, **options)
    body = model.backbone
    model.roi_heads.add_masks(pool_like(model.roi_heads.box_roi_pool, body.names[:4], mask_roi_size, 2),
                              body.out_channels, num_classes)
    return model


HTC_SCORE_THRESH = 0.001  # mmdetection's HTC test_cfg.rcnn.score_thr (its Cascade R-CNN's: 0.05)


@detector_options("det_htc", RCNN_OPTIONS, build_faster_rcnn, build_cascade_rcnn, build_cascade_mask_rcnn)
def build_htc(hrnet_name: str, num_classes: int = 81, semantic_classes: int = 183, semantic_loss_weight: float = 0.2,
              **options: Any) -> HRNetCascadeRCNN:
    """Hybrid Task Cascade HRNetV2p (mmdetection's ``HybridTaskCascade`` with ``HybridTaskCascadeRoIHead``):
    :func:`build_cascade_mask_rcnn`'s detector with the mask information flow, the interleaved training and
    the fused semantic branch at stride 8 (``semantic_classes``: COCO-Stuff's 183; 0 builds HTC without it),
    whose loss is weighted ``semantic_loss_weight``; boxes kept above ``box_score_thresh`` 0.001 by default
    (mmdetection's HTC test)."""
    options.setdefault("box_score_thresh", HTC_SCORE_THRESH)
    model = build_cascade_mask_rcnn(hrnet_name, num_classes, **options)
    body = model.backbone
    semantic = FusedSemanticHead(body.out_channels, len(body.strides), 1, 4, semantic_classes) \
        if semantic_classes else None
    model.roi_heads.add_hybrid(semantic, body.strides[1], semantic_loss_weight)
    return model


def _register(names: Sequence[str]) -> None:
    info = ModelInfo("det", (800, 1333), "coco")
    for name in names:
        register_model(registered_name("det_cascadercnn", name), lambda _n=name, **kw: build_cascade_rcnn(_n, **kw),
                       info)
        register_model(registered_name("det_cascademaskrcnn", name),
                       lambda _n=name, **kw: build_cascade_mask_rcnn(_n, **kw), info)
        register_model(registered_name("det_htc", name), lambda _n=name, **kw: build_htc(_n, **kw), info)


_register(named_specs())

__all__ = ["CASCADE_STDS", "HTC_SCORE_THRESH", "SEMANTIC", "STAGE_IOUS", "STAGE_LOSS_WEIGHTS", "CascadePredictor",
           "CascadeRoIHeads", "HRNetCascadeRCNN", "build_cascade_mask_rcnn", "build_cascade_rcnn", "build_htc"]
