"""MPII's PCKh, as the official HRNet code (``MPIIDataset.evaluate``) and mmpose compute it.

A joint is correct when the prediction lies within ``threshold`` head sizes of the ground truth,
a head size being 0.6 times the diagonal of the person's head box (``SC_BIAS``); only the joints
the ground truth has count. Per joint the percentage correct; per body part (head, shoulders,
...) the mean of its left and right joints; ``PCKh`` the mean over all joints but the pelvis and
the thorax, weighted by how many of each the ground truth has (the benchmark's "Mean").

The low threshold: mmpose reports ``PCKh@0.1`` at 0.10; the official HRNet code's "Mean@0.1"
reads row 11 of its threshold grid, 0.11 (its README's "PCKh@0.1 37.7" is that). Both are given:
``PCKh@0.1`` and ``PCKh@0.11``.

Predictions are 0-based pixels, as hrseg's decoders give them; the ground truth is MPII's 1-based
(``pos_gt_src``): 1 is added, as both codes do.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from hrseg.data.pose.mpii import MpiiGroundTruth
from hrseg.errors import DataError
from hrseg.evaluation.coco_eval import format_table

__all__ = ["PART_NAMES", "SC_BIAS", "evaluate_pckh", "format_pckh", "pckh_per_joint"]

SC_BIAS = 0.6
# The official table's rows: a body part and its joints' codes (gt_valid.mat's dataset_joints)
PART_NAMES = {"Head": ("head",), "Shoulder": ("lsho", "rsho"), "Elbow": ("lelb", "relb"), "Wrist": ("lwri", "rwri"),
              "Hip": ("lhip", "rhip"), "Knee": ("lkne", "rkne"), "Ankle": ("lank", "rank")}
_LEFT_OUT_OF_MEAN = ("pelv", "thrx")


def pckh_per_joint(preds: np.ndarray, gt: MpiiGroundTruth,
                   thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The share correct per threshold and joint, (T, K), and the number of labelled joints, (K,);
    ``preds`` (N, K, 2) 0-based pixels.
    Shares, 0 to 1, as hrseg's other metrics (the official code prints percent)."""
    preds = np.asarray(preds, dtype=np.float64)[..., :2] + 1.0
    heads = np.linalg.norm(gt.headboxes[:, 1] - gt.headboxes[:, 0], axis=1) * SC_BIAS  # (N,)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.linalg.norm(preds - gt.joints, axis=2) / heads[:, None]  # (N, K)
        counts = gt.visible.sum(axis=0)
        correct = [((errors <= t) & gt.visible).sum(axis=0) for t in thresholds]
        return np.asarray(correct, dtype=np.float64) / counts, counts


def evaluate_pckh(preds: np.ndarray, gt: MpiiGroundTruth, threshold: float = 0.5,
                  source: str = "MPII ground truth") -> dict[str, float]:
    """``PCKh`` (the mean at ``threshold``), the seven body parts and ``PCKh@0.1`` / ``PCKh@0.11`` of
    ``preds`` (N, K, 2), one per ground-truth person in its order (``source`` names it in errors)."""
    preds = np.asarray(preds)
    if preds.shape[:2] != gt.joints.shape[:2]:
        raise DataError(f"{source}: {gt.num_people} people with {gt.joints.shape[1]} joints, but the predictions are "
                        f"{preds.shape[0]} people with {preds.shape[1] if preds.ndim > 1 else 0} joints (the "
                        "validation file and the .mat must list the same people in the same order)")
    table, counts = pckh_per_joint(preds, gt, (threshold, 0.1, 0.11))
    index = {code: i for i, code in enumerate(gt.joint_codes)}
    weights = counts.astype(np.float64)
    weights[[index[c] for c in _LEFT_OUT_OF_MEAN if c in index]] = 0.0
    weights /= weights.sum()
    stats = {"PCKh": float(np.nansum(table[0] * weights))}
    for part, codes in PART_NAMES.items():
        stats[part] = float(np.mean([table[0][index[c]] for c in codes]))
    stats["PCKh@0.1"], stats["PCKh@0.11"] = (float(np.nansum(row * weights)) for row in table[1:])
    return stats


def format_pckh(stats: dict[str, float], title: str = "PCKh") -> str:
    """The official table's order: the seven parts, then the mean (PCKh) and the low thresholds."""
    return format_table({name: stats[name] for name in (*PART_NAMES, "PCKh", "PCKh@0.1", "PCKh@0.11")}, title)
