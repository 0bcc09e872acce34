"""The keypoint branch's other losses: Gaussian heatmaps (as hrseg's top-down pose), and the
spatial softmax against a Gaussian instead of one pixel.

torchvision's Keypoint R-CNN (``keypoint_loss="softmax"``) treats each keypoint's S x S RoI heatmap
as one S^2-way classification: spatial-softmax cross-entropy on the one-hot pixel of the target,
decoded by the argmax of the heatmap resized to the box. ``keypoint_loss="heatmap"`` trains the
same head as hrseg's pose models: an unnormalised Gaussian (peak 1, ``sigma`` heatmap pixels)
drawn by :func:`hrseg.codecs.heatmap.encode` at the keypoint's place in the RoI's grid, the official
``JointsMSELoss`` (:mod:`hrseg.losses.keypoint`) with unlabelled points weighted 0, and the official
decoding (argmax, a quarter pixel toward the higher neighbour: :mod:`hrseg.codecs.heatmap`), the
heatmap's maximum as the keypoint's score. ``keypoint_loss="gaussian_softmax"`` keeps
torchvision's spatial softmax and decoding but trains it toward the same Gaussian, normalised to a
distribution (cross-entropy with a soft target, as SimCC's Gaussian label smoothing): the cells
next to the keypoint's are nearly right rather than as wrong as any other, which the one-hot
target says, so the head learns where a joint is faster and the target's rounding to one cell
does not matter.

Confidence (:func:`softmax_confidences`): torchvision scores each keypoint by its heatmap's logit
at the peak, but a spatial softmax is unchanged by adding a constant to a map (its bias gets no
gradient and drifts), so the logit says nothing by itself. The multi-task model scores a
keypoint of a softmax head by the probability its distribution puts in the
:data:`CONFIDENCE_WINDOW` x :data:`CONFIDENCE_WINDOW` cells around the peak (the best-filled
block of that size; a sixth of the box side for the 56-cell map): how sure the head is that the
joint lies near where it says, in [0, 1]. Ranking detected people by it (the official rescoring)
gave more keypoint AP than the sigmoid of the logit on every model measured (the windows compared:
docs/multitask.md).

Grid convention: heatmap cell ``i`` covers ``[x1 + i * w / S, x1 + (i + 1) * w / S)`` of the box
``(x1, y1, x2, y2)``, so a cell's centre maps to ``x1 + (i + 0.5) * w / S``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hrseg.codecs.heatmap import encode, get_max_preds, refine_quarter_offset
from hrseg.losses.keypoint import JointsMSELoss

__all__ = ["CONFIDENCE_WINDOW", "KEYPOINT_LOSSES", "gaussian_softmax_keypoint_loss", "heatmap_keypoint_loss",
           "heatmap_keypoints", "softmax_confidences"]

KEYPOINT_LOSSES = ("softmax", "gaussian_softmax", "heatmap")
CONFIDENCE_WINDOW = 9  # cells a side (module docstring)
_MSE = JointsMSELoss(use_target_weight=True)


def _grid(boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each box's origin (N, 2) and heatmap cells per pixel (N, 2)."""
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-3)
    return boxes[:, :2], size / wh


def _gaussian_targets(logits: torch.Tensor, rois: list[torch.Tensor], gt_keypoints: list[torch.Tensor],
                      matched: list[torch.Tensor], sigma: float) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Gaussians (R, K, S, S) at the matched ground truth's keypoints in each RoI's grid and their
    weights (R, K, 1): 0 for v=0 and points outside the RoI; None without a RoI."""
    size = logits.shape[-1]
    targets, weights = [], []
    for boxes, keypoints, idx in zip(rois, gt_keypoints, matched):
        kps = keypoints[idx].detach().cpu().numpy()
        origin, scale = _grid(boxes.detach().cpu().numpy(), size)
        for o, s, kp in zip(origin, scale, kps):
            cells = (kp[:, :2] - o) * s - 0.5  # cell centres on integers, as encode expects
            inside = (cells >= -0.5).all(1) & (cells < size - 0.5).all(1)
            target, weight = encode(cells, (kp[:, 2] > 0) & inside, (size, size), (size, size), sigma)
            targets.append(target)
            weights.append(weight)
    if not targets:
        return None
    return torch.from_numpy(np.stack(targets)).to(logits), torch.from_numpy(np.stack(weights)).to(logits)


def heatmap_keypoint_loss(logits: torch.Tensor, rois: list[torch.Tensor], gt_keypoints: list[torch.Tensor],
                          matched: list[torch.Tensor], sigma: float = 2.0) -> torch.Tensor:
    """``JointsMSELoss`` of the RoI heatmaps (R, K, S, S) against Gaussians at the matched ground
    truth's keypoints (v=0 and points outside the RoI weigh 0)."""
    found = _gaussian_targets(logits, rois, gt_keypoints, matched, sigma)
    return logits.sum() * 0.0 if found is None else _MSE(logits, *found)


def gaussian_softmax_keypoint_loss(logits: torch.Tensor, rois: list[torch.Tensor], gt_keypoints: list[torch.Tensor],
                                   matched: list[torch.Tensor], sigma: float = 2.0) -> torch.Tensor:
    """Cross-entropy of each RoI heatmap's spatial softmax (R, K, S*S) against the Gaussian at its
    keypoint normalised to sum 1, averaged over the labelled keypoints inside their RoI."""
    found = _gaussian_targets(logits, rois, gt_keypoints, matched, sigma)
    if found is None:
        return logits.sum() * 0.0
    target, weight = found
    valid = weight[..., 0] > 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    q = target.flatten(2)
    q = q / q.sum(-1, keepdim=True).clamp_min(1e-12)
    loss = -(q * torch.log_softmax(logits.flatten(2), dim=-1)).sum(-1)
    return loss[valid].mean()


def heatmap_keypoints(logits: torch.Tensor, rois: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per image the keypoints (N, K, 3: x, y, 1) in image pixels and their scores (N, K)."""
    size = logits.shape[-1]
    heatmaps = logits.detach().float().cpu().numpy()
    coords, maxvals = get_max_preds(heatmaps) if len(heatmaps) else (np.zeros((0, logits.shape[1], 2)), None)
    if len(heatmaps):
        coords = refine_quarter_offset(coords, heatmaps)
    boxes = torch.cat(rois).detach().cpu().numpy() if rois else np.zeros((0, 4), np.float32)
    origin, scale = _grid(boxes.reshape(-1, 4), size)
    xy = origin[:, None] + (coords + 0.5) / scale[:, None]
    points = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=2).astype(np.float32)
    scores = maxvals[..., 0] if maxvals is not None else np.zeros(points.shape[:2], np.float32)
    counts = [len(r) for r in rois]
    device = logits.device
    return ([torch.from_numpy(p).to(device) for p in np.split(points, np.cumsum(counts)[:-1])],
            [torch.from_numpy(np.ascontiguousarray(s, np.float32)).to(device)
             for s in np.split(scores, np.cumsum(counts)[:-1])])


def softmax_confidences(logits: torch.Tensor, window: int = CONFIDENCE_WINDOW) -> torch.Tensor:
    """Each keypoint's confidence (R, K) in [0, 1] from its heatmap logits (R, K, S, S): the most
    probability the spatial softmax puts in any ``window`` x ``window`` block of cells (module
    docstring). Unchanged by a constant added to a map; traceable (the exported graph's too).
    Every block's sum from one integral image (zero-padded by half a window): ``avg_pool2d`` over
    the same blocks was about ten times slower on the CPU (docs/multitask.md)."""
    probs = logits.flatten(2).softmax(-1).reshape(logits.shape)
    half = window // 2
    sums = F.pad(probs, (half + 1, half, half + 1, half)).cumsum(-1).cumsum(-2)
    mass = (sums[..., window:, window:] - sums[..., :-window, window:] - sums[..., window:, :-window]
            + sums[..., :-window, :-window])
    return mass.flatten(2).amax(-1).clamp(min=0.0, max=1.0)
