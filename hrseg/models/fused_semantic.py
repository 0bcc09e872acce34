"""Hybrid Task Cascade's semantic branch: mmdetection 2.x's ``FusedSemanticHead``, its RoI pooling and its loss.

The head (``configs/htc/htc_r50_fpn_1x_coco.py``: ``num_ins=5, fusion_level=1``, 183 COCO-Stuff classes) fuses
the five pyramid levels at the stride-8 level: each level through its own 1x1 conv + ReLU (the others resized
to that level's size first, bilinear with ``align_corners=True``) and summed, then four 3x3 conv + ReLU; a 1x1
conv gives the class logits and another 1x1 conv + ReLU the 256-channel embedding that the box and mask
branches pool (:func:`pool_semantic`: RoIAlign 14x14 at stride 8, average-pooled to the box branch's 7x7) and
add to their RoI features.

Its loss (:func:`semantic_loss`) is the one that trained the published HTC files (mmdetection v2.0, February
2020: ``nn.CrossEntropyLoss(ignore_index=255)``, the mean over the labelled pixels, times 0.2); later 2.x
releases average over every pixel, the unlabelled ones counting 0. The labels are COCO-Stuff's
``stuffthingmaps`` (0-181, 255 unlabelled) at the image's stored size in ``target["semantic"]``, resized
nearest with the image, padded with 255 and taken every 8th pixel (mmdetection's ``Resize``, ``Pad`` and
``SegRescale(1/8)``: :func:`semantic_labels`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

__all__ = ["IGNORE", "FusedSemanticHead", "pool_semantic", "semantic_labels", "semantic_loss"]

IGNORE = 255  # COCO-Stuff's unlabelled pixels, and the padding


class FusedSemanticHead(nn.Module):
    """``forward(levels) -> (logits, embedding)`` at the size of ``levels[fusion_level]`` (module docstring)."""

    def __init__(self, channels: int = 256, num_levels: int = 5, fusion_level: int = 1, num_convs: int = 4,
                 num_classes: int = 183) -> None:
        super().__init__()
        self.fusion_level = fusion_level
        self.lateral_convs = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(num_levels))
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(num_convs))
        self.conv_embedding = nn.Conv2d(channels, channels, 1)
        self.conv_logits = nn.Conv2d(channels, num_classes, 1)
        for conv in self.modules():  # mmcv's ConvModule and the head's Kaiming init: fan_out, zero bias
            if isinstance(conv, nn.Conv2d):
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(conv.bias)

    def forward(self, levels: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        x = F.relu(self.lateral_convs[self.fusion_level](levels[self.fusion_level]))
        size = x.shape[-2:]
        for i, level in enumerate(levels):
            if i != self.fusion_level:
                resized = F.interpolate(level, size=size, mode="bilinear", align_corners=True)
                x = x + F.relu(self.lateral_convs[i](resized))
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.conv_logits(x), F.relu(self.conv_embedding(x))


def pool_semantic(embedding: Tensor, boxes: list[Tensor], size: int, stride: int, aligned: bool) -> Tensor:
    """Each box's 14x14 RoIAlign of the embedding (mmdetection's ``semantic_roi_extractor``: one level, no level
    mapping), average-pooled to ``size`` where that is smaller (the box branch's 7x7). ``aligned``: mmcv's
    half-pixel RoIAlign with adaptive sampling (mmdetection's files and recipes), else torchvision's (2 samples
    a bin), as the model's box branch pools."""
    pooled = roi_align(embedding, boxes, (14, 14), 1.0 / stride, 0 if aligned else 2, aligned)
    if size == 14:
        return pooled
    # adaptive_avg_pool2d's bins, as a fixed pooling where they tile (7x7: 2x2 bins; it exports to ONNX)
    return F.avg_pool2d(pooled, 14 // size) if 14 % size == 0 else F.adaptive_avg_pool2d(pooled, (size, size))


def semantic_labels(maps: Sequence[Tensor | None], image_shapes: Sequence[tuple[int, int]], size: tuple[int, int],
                    stride: int, device: torch.device | str = "cpu") -> Tensor:
    """(N, H, W) int64 labels at the fused level's ``size`` from each image's map at its stored size: resized
    nearest to the network's image size, padded with :data:`IGNORE`, every ``stride``-th pixel; an image
    without a map (None) is all :data:`IGNORE`."""
    out = torch.full((len(maps), size[0], size[1]), IGNORE, dtype=torch.int64, device=device)
    for k, (labels, (h, w)) in enumerate(zip(maps, image_shapes)):
        if labels is None:
            continue
        resized = F.interpolate(labels[None, None].float(), size=(h, w), mode="nearest")[0, 0]
        picked = resized[::stride, ::stride][:size[0], :size[1]]
        out[k, :picked.shape[0], :picked.shape[1]] = picked.long()
    return out


def semantic_loss(logits: Tensor, labels: Tensor, weight: float) -> Tensor:
    """``weight`` x the cross-entropy's mean over the labelled pixels (0 with a gradient where none is)."""
    if not bool((labels != IGNORE).any()):
        return logits.sum() * 0
    return weight * F.cross_entropy(logits, labels, ignore_index=IGNORE)
