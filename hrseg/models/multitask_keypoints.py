"""The keypoint branch's losses beside torchvision's (Gaussian heatmaps, as hrseg's top-down pose,
and the spatial softmax against a Gaussian instead of one pixel), and how a softmax head's
heatmaps become keypoints and confidences.

torchvision's Keypoint R-CNN (``keypoint_loss="softmax"``) treats each keypoint's S x S RoI heatmap
as one S^2-way classification: spatial-softmax cross-entropy on the one-hot pixel of the target,
decoded by the argmax of the heatmap resized to the box. ``keypoint_loss="heatmap"`` trains the
same head as hrseg's pose models: an unnormalised Gaussian (peak 1, ``sigma`` heatmap pixels)
drawn by :func:`hrseg.codecs.heatmap.encode` at the keypoint's place in the RoI's grid, the official
``JointsMSELoss`` (:mod:`hrseg.losses.keypoint`) with unlabelled points weighted 0, and the official
decoding (argmax, a quarter pixel toward the higher neighbour: :mod:`hrseg.codecs.heatmap`), the
heatmap's maximum as the keypoint's score. ``keypoint_loss="gaussian_softmax"`` keeps
torchvision's spatial softmax (and the decoding below) but trains it toward the same Gaussian,
normalised to a distribution (cross-entropy with a soft target, as SimCC's Gaussian label
smoothing): the cells next to the keypoint's are nearly right rather than as wrong as any other,
which the one-hot target says, so the head learns where a joint is faster and the target's
rounding to one cell does not matter.

Decoding and confidence (:func:`softmax_keypoints`): torchvision places each keypoint at the argmax
of its heatmap resized to the box (bicubic, per RoI) and scores it by the heatmap's logit there.
But a spatial softmax is unchanged by adding a constant to a map (its bias gets no gradient and
drifts), so the logit says nothing by itself; and one cell is coarse for small people, whose OKS
falls off within a pixel or two. The multi-task model reads the softmax's distribution in the
:data:`PEAK_WINDOW` x :data:`PEAK_WINDOW` cells around the peak (a sixth of the box side for the
56-cell map): the keypoint is its mean there (a place between cells, as the distribution says),
the confidence the probability there (how sure the head is that the joint lies near where it
says, in [0, 1]). On eight trained models of the mini recipes, the mean gave 0.007-0.014 more
keypoint AP than torchvision's argmax, and ranking detected people by this confidence (the
official rescoring) more than the sigmoid of the logit (docs/multitask.md). One vectorised
computation for every RoI, eager and in an exported graph alike.

Grid convention: heatmap cell ``i`` covers ``[x1 + i * w / S, x1 + (i + 1) * w / S)`` of the box
``(x1, y1, x2, y2)``, so a cell's centre maps to ``x1 + (i + 0.5) * w / S``.
"""
from __future__ import annotations

import numpy as np
import torch

from hrseg.codecs.heatmap import encode, get_max_preds, refine_quarter_offset
from hrseg.losses.keypoint import JointsMSELoss

__all__ = ["KEYPOINT_LOSSES", "PEAK_WINDOW", "gaussian_softmax_keypoint_loss", "heatmap_keypoint_loss",
           "heatmap_keypoints", "softmax_keypoints"]

KEYPOINT_LOSSES = ("softmax", "gaussian_softmax", "heatmap")
PEAK_WINDOW = 9  # cells a side (module docstring)
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


def softmax_keypoints(logits: torch.Tensor, boxes: torch.Tensor,
                      window: int = PEAK_WINDOW) -> tuple[torch.Tensor, torch.Tensor]:
    """The keypoints (R, K, 3: x, y, 1) in image pixels and their confidences (R, K) in [0, 1] from a
    softmax head's RoI heatmap logits (R, K, S, S) and its boxes (R, 4): each keypoint at the mean
    of its spatial softmax over the ``window`` x ``window`` cells around the peak, scored by the
    probability in them (module docstring). Unchanged by a constant added to a map; no loop and
    no shape taken from the data, so the exported graph computes it the same way."""
    logits = logits.float()
    size = logits.shape[-1]
    # over the map's two axes, no flattening: the exported graph's Reshape to (R, K, -1) fails
    # when no RoI is left (R = 0), an image where nothing scores above the graph's floor
    probs = (logits - logits.amax(dim=(-2, -1), keepdim=True)).exp()
    probs = probs / probs.sum(dim=(-2, -1), keepdim=True)
    row_max, row_peak = logits.max(-1)  # (R, K, S): each row's maximum and where
    peak_y = row_max.argmax(-1)  # the first row holding the map's maximum, as argmax of the flat map
    peak_x = row_peak.gather(-1, peak_y[..., None])[..., 0]
    cells = torch.arange(size, device=logits.device, dtype=logits.dtype)
    near_y = ((cells - peak_y[..., None]).abs() <= window // 2).to(probs.dtype)  # (R, K, S)
    near_x = ((cells - peak_x[..., None]).abs() <= window // 2).to(probs.dtype)
    rows = (probs * near_x[..., None, :]).sum(-1) * near_y  # each row's probability inside the window
    columns = (probs * near_y[..., :, None]).sum(-2) * near_x
    mass = rows.sum(-1)
    y = (rows * cells).sum(-1) / mass.clamp_min(1e-12)
    x = (columns * cells).sum(-1) / mass.clamp_min(1e-12)
    wh = (boxes[:, 2:] - boxes[:, :2]).float().clamp(min=1.0)  # as torchvision's decoding
    x = boxes[:, :1] + (x + 0.5) * wh[:, :1] / size
    y = boxes[:, 1:2] + (y + 0.5) * wh[:, 1:2] / size
    return torch.stack([x, y, torch.ones_like(x)], dim=-1), mass.clamp(min=0.0, max=1.0)
