"""Mask R-CNN on HRNetV2p: torchvision's ``MaskRCNN`` heads on hrseg's V2p pyramid, the box part
exactly as :func:`hrseg.models.detection.build_faster_rcnn` (same anchors, RoIAlign, box head).

The mask branch is that of the official HRNet / mmdetection ``mask_rcnn_hrnetv2p_*`` configs:
RoIAlign 14x14 (sampling ratio 2) over the stride 4-32 levels, four 3x3 convs of 256 channels,
a 2x deconvolution and a 1x1 conv to one 28x28 mask per class (class-specific, sigmoid, loss on
the ground-truth class only). Training takes ``targets[i]['masks']``, (N, H, W) uint8 at the
image's size; at test time ``outputs[i]['masks']`` are (N, 1, H, W) probabilities pasted into
the image (threshold 0.5 for the binary mask, as both codebases do).
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import torch
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

from hrseg.errors import CheckpointError
from hrseg.models.backbones.hrnet import named_specs
from hrseg.models.detection import (DETECTOR_ALIASES, RCNN_OPTIONS, build_faster_rcnn, detector_options,
                                    registered_name)
from hrseg.models.mmdet_conventions import pool_like
from hrseg.models.registry import ModelInfo, register_model


class HRNetMaskRCNN(MaskRCNN):
    """torchvision's Mask R-CNN on a :class:`~hrseg.models.detection.PyramidBackbone`."""

    checkpoint_aliases: ClassVar[dict[str, str]] = DETECTOR_ALIASES


@detector_options("det_maskrcnn", RCNN_OPTIONS, build_faster_rcnn)
def build_mask_rcnn(hrnet_name: str, num_classes: int = 81, mask_channels: int = 256, mask_convs: int = 4,
                    mask_roi_size: int = 14, sampling_ratio: int = 2, **options: Any) -> HRNetMaskRCNN:
    """Mask R-CNN HRNetV2p: :func:`~hrseg.models.detection.build_faster_rcnn`'s detector (all its
    ``options``: ``min_size``, ``out_channels``, ``anchor_scale``, ``norm_eval``, torchvision's
    ``rpn_*`` / ``box_*`` ...) with the mask branch added; any other key, or a value out of its range,
    is a :class:`~hrseg.errors.ConfigError`."""
    faster = build_faster_rcnn(hrnet_name, num_classes, sampling_ratio=sampling_ratio, **options)
    body = faster.backbone
    model = HRNetMaskRCNN.__new__(HRNetMaskRCNN)
    model.__dict__ = faster.__dict__  # the same modules: MaskRCNN only adds three to roi_heads
    heads = faster.roi_heads
    heads.mask_roi_pool = pool_like(heads.box_roi_pool, body.names[:4], mask_roi_size, sampling_ratio)
    heads.mask_head = MaskRCNNHeads(body.out_channels, (mask_channels,) * mask_convs, 1)
    heads.mask_predictor = MaskRCNNPredictor(mask_channels, mask_channels, num_classes)
    return model


def is_mask_model(name: str) -> bool:
    """Whether the registered model ``name`` is a Mask R-CNN or a Cascade Mask R-CNN (its data needs instance
    masks)."""
    return str(name).startswith(("det_maskrcnn_", "det_cascademaskrcnn_", "det_htc_"))


def mask_model(model: Any) -> bool:
    """Whether a (possibly wrapped, or exported: :class:`hrseg.backends.Runner`) detector predicts
    instance masks."""
    meta = getattr(model, "meta", None)
    if isinstance(meta, dict) and meta.get("task") == "detection":
        return "masks" in meta.get("outputs", ())
    heads = getattr(getattr(model, "module", model), "roi_heads", None)
    return heads is not None and getattr(heads, "has_mask", lambda: False)()


# mmdetection's FCNMaskHead (mask_rcnn_hrnetv2p_* files) -> torchvision's MaskRCNNHeads / Predictor.
MMDET_MASK_HEAD_NAMES: dict[str, str] = {
    **{f"roi_head.mask_head.convs.{i}.conv.": f"roi_heads.mask_head.{i}.0." for i in range(4)},
    "roi_head.mask_head.upsample.": "roi_heads.mask_predictor.conv5_mask.",
    "roi_head.mask_head.conv_logits.": "roi_heads.mask_predictor.mask_fcn_logits.",
}


def convert_mmdet_mask_head(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mask branch of an mmdetection Mask R-CNN state dict under hrseg's names.

    Only the mask head: the backbone, neck, RPN and box head are those of the Faster R-CNN
    files and go through that converter. mmdetection's ``conv_logits`` has one row per class
    (80); torchvision's predictor has the background's first (81), never used for a detection:
    a zero row is prepended. Raises :class:`CheckpointError` when the mask head is not there.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for old, new in MMDET_MASK_HEAD_NAMES.items():
            if key.startswith(old):
                out[new + key[len(old):]] = value
    if len(out) != 2 * len(MMDET_MASK_HEAD_NAMES):
        raise CheckpointError(f"not an mmdetection Mask R-CNN mask head: found {len(out)} of its "
                              f"{2 * len(MMDET_MASK_HEAD_NAMES)} tensors (roi_head.mask_head.*)")
    for suffix in ("weight", "bias"):
        key = f"roi_heads.mask_predictor.mask_fcn_logits.{suffix}"
        out[key] = torch.cat([out[key].new_zeros((1,) + out[key].shape[1:]), out[key]])
    return out


def _register(names: Sequence[str]) -> None:
    for name in names:
        register_model(registered_name("det_maskrcnn", name), lambda _n=name, **kw: build_mask_rcnn(_n, **kw),
                       ModelInfo("det", (800, 1333), "coco"))


_register(named_specs())

__all__ = ["HRNetMaskRCNN", "build_mask_rcnn", "convert_mmdet_mask_head", "is_mask_model", "mask_model"]
