"""mmdetection's Faster R-CNN HRNetV2p files on hrseg's ``det_fasterrcnn_hrnetv2p_*`` (torchvision heads), its
Cascade R-CNN and HTC files on ``det_cascadercnn_hrnetv2p_*`` / ``det_htc_hrnetv2p_*`` (:func:`convert_cascade_rcnn`)
and its FCOS files on ``det_fcos_hrnetv2p_*`` with mmdetection's head (:func:`convert_fcos`).

What differs between the two, from ``reference/openmmlab_meta.json``, and what is done about it:

- names: HRFPN ``neck.reduction_conv`` / ``neck.fpn_convs.i`` are hrseg's V2p ``reduction`` /
  ``level_convs.i``; ``rpn_head.rpn_{conv,cls,reg}`` and ``roi_head.bbox_head.shared_fcs.{0,1}``
  are torchvision's ``rpn.head.{conv.0.0,cls_logits,bbox_pred}`` and ``box_head.fc{6,7}``;
- classes: ``fc_cls`` has 81 rows with the background LAST; torchvision wants it first (row 0,
  then COCO's 80 in the same order as hrseg's labels 1..80): the rows are rotated;
- box regression: ``fc_reg`` is class-specific without background rows (80 x 4); torchvision
  has 81 x 4 with the background's first: four zero rows are prepended (never used at test);
- RPN: 3 sigmoid logits and 3 x 4 deltas per location in ratio order 0.5, 1, 2 (channel
  a * 4 + k), which is torchvision's order; box coders: RPN (1, 1, 1, 1), RoI head stds
  (0.1, 0.1, 0.2, 0.2) = torchvision's weights (10, 10, 5, 5): nothing to convert;
- anchors: mmdetection does not round its base anchors, torchvision does; RoIAlign:
  mmdetection's is ``aligned=True`` with adaptive sampling, torchvision's ``MultiScaleRoIAlign``
  ``aligned=False`` with 2 samples. These conventions travel with the weights:
  :func:`apply_conventions` swaps in :mod:`hrseg.models.mmdet_conventions`' generator and RoIAlign;
- RPN test proposals: mmdetection's ``test_cfg.rpn`` keeps 1000 per level before NMS and 1000
  after, where the HRNet-Object-Detection settings hrseg's detectors are built with keep 2000 /
  2000: :func:`apply_conventions` sets mmdetection's (a value given to the model stays).
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from hrseg.errors import CheckpointError
from hrseg.weights.converted import Converted, rename_prefixes as _rename
from hrseg.models.detection import OFFICIAL_RPN_TEST
from hrseg.models.mask_rcnn import convert_mmdet_mask_head
from hrseg.models.mmdet_conventions import use_mmdet_conventions

# mmdetection's test_cfg.rpn of the published HRNetV2p detectors (reference/openmmlab_meta.json):
# nms_pre 1000 (per level, as torchvision's pre_nms_top_n), max_per_img 1000.
MMDET_RPN_TEST: dict[str, int] = dict(rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000)

# The HRNet and its HRFPN neck (every mmdetection HRNetV2p detector) and the RPN (the two-stage ones)
_BODY = {
    "backbone.": "backbone.body.backbone.",
    "neck.reduction_conv.conv.": "backbone.body.neck.reduction.",
    **{f"neck.fpn_convs.{i}.conv.": f"backbone.body.neck.level_convs.{i}." for i in range(5)},
}
_RPN = {"rpn_head.rpn_conv.": "rpn.head.conv.0.0.", "rpn_head.rpn_cls.": "rpn.head.cls_logits.",
        "rpn_head.rpn_reg.": "rpn.head.bbox_pred."}
# Shared2FCBBoxHead's layers: (mmdetection's name, torchvision's module, its name there); Cascade R-CNN has
# one per stage, in hrseg's box_heads.{i} / box_predictors.{i}
_BOX_LAYERS = (("shared_fcs.0.", "box_head", "fc6."), ("shared_fcs.1.", "box_head", "fc7."),
               ("fc_cls.", "box_predictor", "cls_score."), ("fc_reg.", "box_predictor", "bbox_pred."))
_NAMES = {**_BODY, **_RPN, **{f"roi_head.bbox_head.{a}": f"roi_heads.{b}.{c}" for a, b, c in _BOX_LAYERS}}
# HTC's own layers (hrseg.models.cascade_rcnn.CascadeRoIHeads.add_hybrid): the FusedSemanticHead's ConvModules
# (conv + ReLU) as plain convs, and each later stage's HTCMaskHead.conv_res (stage i's is hrseg's mask_res.{i - 1})
_SEMANTIC = "roi_head.semantic_head."
_HTC = {f"{_SEMANTIC}conv_logits.": "roi_heads.semantic_head.conv_logits.",
        f"{_SEMANTIC}conv_embedding.conv.": "roi_heads.semantic_head.conv_embedding.",
        **{f"{_SEMANTIC}{part}.{i}.conv.": f"roi_heads.semantic_head.{part}.{i}." for part, count in
           (("lateral_convs", 5), ("convs", 4)) for i in range(count)},
        **{f"roi_head.mask_head.{i}.conv_res.conv.": f"roi_heads.mask_res.{i - 1}.0." for i in (1, 2)}}


def convert_faster_rcnn(state: Mapping[str, torch.Tensor], path: str | os.PathLike = "<state dict>") -> Converted:
    """An mmdetection Faster R-CNN (or, with its mask branch, Mask R-CNN) HRNetV2p state dict in
    the keys of hrseg's torchvision detector (``path``: its file, named in errors)."""
    mask_keys = [k for k in state if k.startswith("roi_head.mask_head.")]
    if mask_keys:
        try:
            masks = convert_mmdet_mask_head(state)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from None
        state = {k: v for k, v in state.items() if not k.startswith("roi_head.mask_head.")}
    out = _rename(state, _NAMES)
    # A file without the classifier (cut short, or a head removed to fine-tune) converts the rest;
    # the loader names what is missing (strict) or keeps its initial values (strict=False).
    for suffix in ("weight", "bias"):
        cls_key, reg_key = (f"roi_heads.box_predictor.{n}.{suffix}" for n in ("cls_score", "bbox_pred"))
        if cls_key in out:
            out[cls_key] = torch.cat([out[cls_key][-1:], out[cls_key][:-1]])  # background first
        if reg_key in out:
            reg = out[reg_key]
            out[reg_key] = torch.cat([reg.new_zeros((4,) + reg.shape[1:]), reg])
    notes = ["mmdet Faster R-CNN: background moved from the last class row to the first, 4 zero box-regression "
             "rows prepended for it"]
    if mask_keys:
        out.update(masks)
        notes.append(f"mmdet Mask R-CNN: {len(mask_keys)} mask-head tensors converted (a zero background mask row added)")
    return Converted("mmdet_faster_rcnn", out, notes=notes, mmdet_conventions=True)


def convert_cascade_rcnn(state: Mapping[str, torch.Tensor], path: str | os.PathLike = "<state dict>") -> Converted:
    """An mmdetection Cascade (Mask) R-CNN or HTC HRNetV2p state dict in the keys of hrseg's ``det_cascadercnn``
    / ``det_cascademaskrcnn`` / ``det_htc`` (:mod:`hrseg.models.cascade_rcnn`): the RPN and backbone as Faster
    R-CNN's, each stage's two FC layers, classifier (background moved from last to first) and class-agnostic
    regression, each stage's mask head as Mask R-CNN's (:func:`convert_mmdet_mask_head`), and HTC's semantic
    head and mask information flow (:data:`_HTC`)."""
    hybrid = _rename({k: v for k, v in state.items() if k.startswith(tuple(_HTC))}, _HTC)
    state = {k: v for k, v in state.items() if not k.startswith(tuple(_HTC))}
    masks: dict[str, torch.Tensor] = {}
    for i in range(3):
        prefix = f"roi_head.mask_head.{i}."
        stage = {"roi_head.mask_head." + k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if stage:
            try:
                converted = convert_mmdet_mask_head(stage)
            except CheckpointError as e:
                raise CheckpointError(f"{path}: stage {i}: {e}") from None
            masks.update(_rename(converted, {"roi_heads.mask_head.": f"roi_heads.mask_heads.{i}.",
                                             "roi_heads.mask_predictor.": f"roi_heads.mask_predictors.{i}."}))
    state = {k: v for k, v in state.items() if not k.startswith("roi_head.mask_head.")}
    stages = {f"roi_head.bbox_head.{i}.{a}": f"roi_heads.{b}s.{i}.{c}" for i in range(3) for a, b, c in _BOX_LAYERS}
    out = _rename(state, {**_BODY, **_RPN, **stages})
    for key in [k for k in out if ".cls_score." in k]:
        out[key] = torch.cat([out[key][-1:], out[key][:-1]])  # background first
    notes = ["mmdet Cascade R-CNN: each stage's background moved from the last class row to the first"]
    if masks:
        out.update(masks)
        notes.append(f"mmdet Cascade Mask R-CNN: {len(masks)} mask-head tensors converted (zero background rows)")
    if hybrid:
        out.update(hybrid)
        notes.append(f"mmdet HTC: {len(hybrid)} semantic-head and mask-flow tensors converted")
    return Converted("mmdet_cascade_rcnn", out, mmdet_conventions=True, notes=notes)


def is_htc(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether an mmdetection cascade file is an HTC one (a semantic head, or a mask head's conv_res)."""
    return any(k.startswith(tuple(_HTC)) for k in state)


# mmdetection's FCOS head under hrseg's names (hrseg.models.fcos_mmdet keeps mmdetection's inside the head)
_FCOS_NAMES = {**_BODY, "bbox_head.": "head."}
# The model an FCOS file fills: det_fcos with mmdetection's head (its records' options; a file by path too)
FCOS_MODEL_OPTIONS: dict[str, str] = {"head_type": "mmdetection"}
# The first convolution of the HRNet: mmdetection's HRNet FCOS configs feed it BGR (to_rgb=False)
_FIRST_CONV = "backbone.body.backbone.conv1.weight"


def convert_fcos(state: Mapping[str, torch.Tensor]) -> Converted:
    """An mmdetection FCOS HRNetV2p state dict in the keys of hrseg's ``det_fcos`` with
    ``head_type="mmdetection"`` (:mod:`hrseg.models.fcos_mmdet`); the first convolution's input
    channels reversed, so that the model takes RGB as mmdetection's took BGR (its normalisation is
    ImageNet's in BGR order: exact)."""
    out = _rename(state, _FCOS_NAMES)
    notes = ["mmdet FCOS: for det_fcos with head_type='mmdetection'"]
    if _FIRST_CONV in out:
        out[_FIRST_CONV] = out[_FIRST_CONV].flip(1)
        notes.append("the first convolution's input channels reversed (mmdetection fed these weights BGR)")
    return Converted("mmdet_fcos", out, notes=notes)


def apply_conventions(model: nn.Module) -> list[str]:
    """Give a torchvision-style Faster R-CNN mmdetection's anchors, RoIAlign and RPN test proposals
    (:data:`MMDET_RPN_TEST`, where the model has the builder's :data:`OFFICIAL_RPN_TEST`: a value
    given to the model stays); returns the notes saying what was set. A model without an RPN (a
    bare HRNet or HRNetV2p filled from the file's backbone) has none of them: nothing is set."""
    if not hasattr(model, "rpn"):
        return []
    notes = ["unrounded anchors and aligned RoIAlign (mmdetection's) set on the model"]
    pre, post, rpn = "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_test", model.rpn  # torchvision: counts per mode
    if (rpn._pre_nms_top_n["testing"], rpn._post_nms_top_n["testing"]) == (OFFICIAL_RPN_TEST[pre],
                                                                          OFFICIAL_RPN_TEST[post]):
        rpn._pre_nms_top_n["testing"], rpn._post_nms_top_n["testing"] = MMDET_RPN_TEST[pre], MMDET_RPN_TEST[post]
        notes.append(f"RPN test proposals {MMDET_RPN_TEST[pre]} per level before NMS, {MMDET_RPN_TEST[post]} after "
                     "(mmdetection's test_cfg)")
    use_mmdet_conventions(model)  # Mask R-CNN's mask branch pools the same way
    return notes
