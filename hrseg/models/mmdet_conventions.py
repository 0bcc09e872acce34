"""mmdetection 2.x's detection conventions on torchvision's detectors: base anchors not rounded, RoIAlign
``aligned=True`` (half-pixel offset) with adaptive sampling, and mask targets cut the same way and
binarised (:func:`hrseg.models.rcnn_heads.mask_targets`).

torchvision rounds its base anchors and pools with ``aligned=False`` and 2 samples per bin (HRNet-Object-
Detection's, an mmdetection 1.x fork, are the same as torchvision's); mmdetection 2.x does neither. Its
published files were trained and measured under its conventions (:func:`hrseg.weights.mmdet.apply_conventions`
gives them those), and its recipes train under them (``model.mmdet_conventions``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign, roi_align
from torchvision.ops.poolers import _convert_to_roi_format, _setup_scales

__all__ = ["AlignedRoIAlign", "UnroundedAnchorGenerator", "pool_like", "use_mmdet_conventions"]


class UnroundedAnchorGenerator(AnchorGenerator):
    """torchvision's generator with mmdetection's base anchors: centred at 0, not rounded."""

    def generate_anchors(self, scales, aspect_ratios, dtype: torch.dtype = torch.float32,
                         device: torch.device | str = "cpu") -> torch.Tensor:
        scales = torch.as_tensor(scales, dtype=dtype, device=device)
        h_ratios = torch.sqrt(torch.as_tensor(aspect_ratios, dtype=dtype, device=device))
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales[None, :]).view(-1)
        return torch.stack([-ws, -hs, ws, hs], dim=1) / 2


class AlignedRoIAlign(MultiScaleRoIAlign):
    """``MultiScaleRoIAlign`` with ``aligned=True`` (half-pixel offset), as mmcv's RoIAlign."""

    def forward(self, x, boxes, image_shapes):
        feats = [x[k] for k in self.featmap_names]
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(feats, image_shapes, self.canonical_scale,
                                                         self.canonical_level)
        rois = _convert_to_roi_format(boxes)
        levels = self.map_levels(boxes)
        out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1]) + self.output_size)
        for level, (feat, scale) in enumerate(zip(feats, self.scales)):
            idx = torch.where(levels == level)[0]
            out[idx] = roi_align(feat, rois[idx], self.output_size, spatial_scale=scale,
                                 sampling_ratio=self.sampling_ratio, aligned=True).to(out.dtype)
        return out


def _aligned(pool: MultiScaleRoIAlign) -> AlignedRoIAlign:
    return AlignedRoIAlign(pool.featmap_names, pool.output_size, sampling_ratio=0,
                           canonical_scale=pool.canonical_scale, canonical_level=pool.canonical_level)


def pool_like(box_pool: nn.Module, featmap_names: Sequence[str], output_size: int,
              sampling_ratio: int) -> MultiScaleRoIAlign:
    """A RoIAlign for another branch (masks) under the box branch's conventions."""
    pool = MultiScaleRoIAlign(list(featmap_names), output_size, sampling_ratio)
    return _aligned(pool) if isinstance(box_pool, AlignedRoIAlign) else pool


def use_mmdet_conventions(model: nn.Module) -> None:
    """Give a torchvision-style R-CNN (``rpn``, ``roi_heads``) mmdetection's anchors and RoIAlign, its box
    and mask branches both, and its mask targets."""
    old = model.rpn.anchor_generator
    model.rpn.anchor_generator = UnroundedAnchorGenerator(old.sizes, old.aspect_ratios)
    for attr in ("box_roi_pool", "mask_roi_pool"):
        pool = getattr(model.roi_heads, attr, None)
        if pool is not None and not isinstance(pool, AlignedRoIAlign):
            setattr(model.roi_heads, attr, _aligned(pool))
    model.roi_heads.mask_target_kind = "mmdet"
