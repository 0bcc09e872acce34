"""Top-down pose post-processing, as the official HRNet test: flip test, rescoring, OKS-NMS,
and the COCO keypoint results file.

* :func:`flip_test` runs a model on a batch and on its mirror image, flips the second output
  back (swapping the flip pairs), shifts it one heatmap pixel right (the official
  ``SHIFT_HEATMAP``: mirrored features are off by one pixel) and averages the two.
* :func:`rescore`: person score = box score * mean of the keypoint maxima above ``vis_thre``
  (:data:`VIS_THR`, 0.2; 0 when none is).
* :func:`oks_nms`: greedy NMS on OKS (threshold :data:`OKS_THR`, 0.9), with the padded crop area
  ``prod(scale * 200)`` as the person area, as official.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from hrseg.meta.keypoints import FLIP_PAIRS, OKS_SIGMAS, PERSON_CATEGORY_ID
from hrseg.utils.io import write_json

# the official test's thresholds (TEST.IN_VIS_THRE, TEST.OKS_THRE): the top-down pose test's and
# the multi-task keypoint evaluation's defaults
VIS_THR = 0.2
OKS_THR = 0.9

__all__ = ["OKS_THR", "VIS_THR", "flip_back", "flip_test", "oks_iou", "oks_nms", "pose_results",
           "rescore", "write_keypoint_results"]


def flip_back(heatmaps: torch.Tensor, flip_pairs: Sequence[Sequence[int]] = FLIP_PAIRS,
              maps_per_joint: int = 1) -> torch.Tensor:
    """Mirror heatmaps (N, K * maps_per_joint, H, W) horizontally and swap the maps of left and right
    joints; with 3 maps a joint (UDP's combined maps: disk, x and y offsets, mmpose's ``udp_combined``
    flip) the x offsets change sign."""
    n, c, h, w = heatmaps.shape
    out = heatmaps.flip(3).reshape(n, c // maps_per_joint, maps_per_joint, h, w)
    index = list(range(out.shape[1]))
    for a, b in flip_pairs:
        index[a], index[b] = b, a
    out = out[:, index]
    if maps_per_joint == 3:
        out[:, :, 1] = -out[:, :, 1]
    return out.reshape(n, c, h, w)


def _last(output: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Models with several outputs (deep supervision) are judged on the last, as official."""
    return output[-1] if isinstance(output, (list, tuple)) else output


def flip_test(model: Callable[[torch.Tensor], torch.Tensor | Sequence[torch.Tensor]],
              images: torch.Tensor, flip_pairs: Sequence[Sequence[int]] = FLIP_PAIRS,
              shift_heatmap: bool = True, maps_per_joint: int = 1) -> torch.Tensor:
    """Heatmaps of ``model`` averaged over ``images`` (N, 3, H, W) and their mirror images."""
    output = _last(model(images))
    flipped = flip_back(_last(model(images.flip(3))), flip_pairs, maps_per_joint)
    if shift_heatmap:  # flip_back returned a new tensor: editing it in place is safe
        flipped[:, :, :, 1:] = flipped.clone()[:, :, :, 0:-1]
    return (output + flipped) * 0.5


def rescore(maxvals: np.ndarray, box_scores: np.ndarray, vis_thre: float = VIS_THR) -> np.ndarray:
    """Official rescoring: (N, K) or (N, K, 1) keypoint maxima and (N,) box scores -> (N,)."""
    vals = np.asarray(maxvals, dtype=np.float64).reshape(len(box_scores), -1)
    valid = vals > vis_thre
    count = valid.sum(axis=1)
    kpt_score = np.where(count > 0, (vals * valid).sum(axis=1) / np.maximum(count, 1), 0.0)
    return kpt_score * np.asarray(box_scores, dtype=np.float64)


def oks_iou(g: np.ndarray, d: np.ndarray, area_g: float, area_d: np.ndarray,
            sigmas: Sequence[float] = OKS_SIGMAS) -> np.ndarray:
    """OKS between one pose ``g`` (K, 2+) and poses ``d`` (M, K, 2+), over all K joints."""
    var = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    g, d = np.asarray(g, dtype=np.float64), np.asarray(d, dtype=np.float64)
    dist2 = ((d[..., 0] - g[:, 0]) ** 2 + (d[..., 1] - g[:, 1]) ** 2)
    area = (area_g + np.asarray(area_d, dtype=np.float64))[:, None] / 2 + np.spacing(1)
    e = dist2 / var / area / 2
    return np.exp(-e).mean(axis=1) if e.shape[1] else np.zeros(len(d))


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
            thresh: float = OKS_THR, sigmas: Sequence[float] = OKS_SIGMAS) -> list[int]:
    """Official greedy OKS-NMS: indices to keep, best first; a pose is dropped when its OKS
    with a kept one exceeds ``thresh``."""
    keypoints = np.asarray(keypoints)
    if len(keypoints) == 0:
        return []
    order = np.asarray(scores).argsort()[::-1]
    areas = np.asarray(areas, dtype=np.float64)
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        ovr = oks_iou(keypoints[i], keypoints[order[1:]], areas[i], areas[order[1:]], sigmas)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def pose_results(preds: np.ndarray, maxvals: np.ndarray, image_ids: Sequence[int],
                 centers: np.ndarray, scales: np.ndarray, box_scores: Sequence[float],
                 areas: Sequence[float] | None = None, vis_thre: float = VIS_THR,
                 oks_thre: float | None = OKS_THR, sigmas: Sequence[float] = OKS_SIGMAS,
                 category_id: int = PERSON_CATEGORY_ID) -> list[dict]:
    """COCO keypoint results from decoded poses: official rescoring, then OKS-NMS per image
    (``oks_thre=None`` skips it). ``preds`` (N, K, 2) image pixels, ``maxvals`` (N, K[, 1]);
    ``areas`` default to ``prod(scales * 200)``."""
    n = len(preds)
    vals = np.asarray(maxvals, dtype=np.float64).reshape(n, -1)
    scales = np.asarray(scales, dtype=np.float64).reshape(n, 2)
    centers = np.asarray(centers, dtype=np.float64).reshape(n, 2)
    areas = np.prod(scales * 200, axis=1) if areas is None else np.asarray(areas, np.float64)
    kpts = np.concatenate([np.asarray(preds, dtype=np.float64).reshape(n, -1, 2),
                           vals[..., None]], axis=2)
    scores = rescore(vals, np.asarray(box_scores, dtype=np.float64), vis_thre)
    by_image: dict[int, list[int]] = defaultdict(list)
    for i, image_id in enumerate(image_ids):
        by_image[int(image_id)].append(i)
    results = []
    for image_id, idx in by_image.items():
        idx = np.asarray(idx)
        keep = (oks_nms(kpts[idx], scores[idx], areas[idx], oks_thre, sigmas)
                if oks_thre is not None else range(len(idx)))
        for i in idx[list(keep)]:
            results.append({
                "image_id": image_id, "category_id": category_id,
                "keypoints": [float(v) for v in kpts[i].reshape(-1)],
                "score": float(scores[i]),
                "center": [float(v) for v in centers[i]], "scale": [float(v) for v in scales[i]],
            })
    return results


def write_keypoint_results(path: str | os.PathLike, results: Sequence[dict]) -> Path:
    """Write COCO keypoint results atomically (a reader never sees a partial file)."""
    return write_json(path, list(results), indent=None)
