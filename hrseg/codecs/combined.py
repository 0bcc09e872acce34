"""UDP's combined target: a classification disk and two offset maps per joint (the ``udp_regress``
recipes: mmpose 1.x's ``UDPHeatmap(heatmap_type="combined")``, 0.x's ``TopDownGenerateTarget(encoding="UDP",
target_type="CombinedTarget")``).

Per joint, on UDP's heatmap grid (stride ``(input - 1) / (heatmap - 1)``): map 0 is 1 on the cells
within ``radius`` of the joint and 0 elsewhere, maps 1 and 2 are ``(joint - cell) / radius`` in x
and in y, with ``radius = RADIUS_FACTOR * max(H, W)`` cells (3.5 at 64x48). An unlabelled joint has
three zero maps. The maps are ordered joint by joint: ``(K * 3, H, W)``.

Decoding (mmpose 1.x's ``UDPHeatmap.decode``): each disk map blurred with a ``2 * blur + 1`` Gaussian
(OpenCV's default border; no rescaling, so a joint's score is the blurred disk's maximum), its
argmax, plus the two offsets read at that cell times the radius. mmpose 0.x's
``keypoints_from_heatmaps`` also blurs the offset maps (kernel ``blur``): ``offset_blur``. Where a
disk's maximum is <= 0 the argmax is zeroed, as :func:`~hrseg.codecs.heatmap.get_max_preds` does
(mmpose's -1 there reads another joint's offsets).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch

from hrseg.codecs.heatmap import as_heatmaps, get_max_preds, udp_stride

RADIUS_FACTOR = 0.0546875  # mmpose's radius_factor (0.x: valid_radius_factor): 3.5 cells at 64 rows

__all__ = ["RADIUS_FACTOR", "combined_radius", "decode_combined", "encode_combined"]


def combined_radius(heatmap_size: Sequence[int]) -> float:
    """The disk's radius in cells for heatmaps of ``heatmap_size`` (w, h)."""
    return RADIUS_FACTOR * max(int(heatmap_size[0]), int(heatmap_size[1]))


def encode_combined(joints: np.ndarray, joints_vis: np.ndarray, image_size: Sequence[int],
                    heatmap_size: Sequence[int], joint_weights: Sequence[float] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Targets (K * 3, H, W) float32 and target weights (K, 1) float32 (1 for a labelled joint, times
    ``joint_weights`` when given, as :func:`~hrseg.codecs.heatmap.encode`'s) for joints (K, 2) in
    input-crop pixels; sizes are (w, h)."""
    joints = np.asarray(joints, dtype=np.float32)
    k = joints.shape[0]
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    weight = (np.asarray(joints_vis, dtype=np.float32).reshape(k, 1) > 0).astype(np.float32)
    target = np.zeros((k, 3, h, w), dtype=np.float32)
    mu = joints / udp_stride(image_size, heatmap_size)  # float32, as mmpose's keypoints / scale_factor
    radius = combined_radius(heatmap_size)
    xs, ys = np.arange(w), np.arange(h)[:, None]
    for j in range(k):
        if weight[j, 0] <= 0.5:
            continue
        dx, dy = (mu[j, 0] - xs) / radius, (mu[j, 1] - ys) / radius
        target[j, 0] = dx ** 2 + dy ** 2 <= 1
        target[j, 1], target[j, 2] = dx, dy
    if joint_weights is not None:
        weight = weight * np.asarray(joint_weights, dtype=np.float32).reshape(k, 1)
    return target.reshape(k * 3, h, w), weight


def decode_combined(maps: np.ndarray | torch.Tensor, blur: int = 11, offset_blur: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (N, K, 2) in heatmap cells and scores (N, K, 1) from combined maps (N, K * 3, H, W);
    ``offset_blur`` > 0 blurs the offset maps with that kernel first (mmpose 0.x)."""
    maps = as_heatmaps(maps).copy()
    n, c, h, w = maps.shape
    if c % 3:
        raise ValueError(f"combined maps come three per joint, got {c} channels")
    maps = maps.reshape(n, c // 3, 3, h, w)
    size = 2 * blur + 1
    for i, j in np.ndindex(n, c // 3):
        cv2.GaussianBlur(maps[i, j, 0], (size, size), 0, maps[i, j, 0])
        if offset_blur:
            for m in (1, 2):
                cv2.GaussianBlur(maps[i, j, m], (offset_blur, offset_blur), 0, maps[i, j, m])
    coords, scores = get_max_preds(maps[:, :, 0])
    x, y = coords[..., 0].astype(int), coords[..., 1].astype(int)
    rows, joints = np.indices(x.shape)
    offsets = maps[rows, joints, 1:, y, x] * np.float32(combined_radius((w, h)))  # (N, K, 2), float32 as mmpose's
    return coords + offsets, scores
