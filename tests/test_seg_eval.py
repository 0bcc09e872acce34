"""The mIoU evaluator against an independent per-class set computation on real label maps."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from hrseg.meta.classes import CITYSCAPES_CLASSES
from hrseg.evaluation.segmentation import ConfusionMatrix, format_table


def _real_truth(shared_data: Path) -> np.ndarray:
    path = (shared_data / "seg_mini" / "cityscapes" / "gtFine" / "val" / "frankfurt"
            / "frankfurt_000000_000294_gtFine_labelTrainIds.png")
    return np.array(Image.open(path)).astype(np.int64)


def _street_truth(shared_data: Path) -> np.ndarray:
    path = shared_data / "seg_mini" / "deeplab2_street" / "targets" / "eval_semantic_target.png"
    return np.array(Image.open(path)).astype(np.int64)  # 16-bit train ids


def _perturb(gt: np.ndarray) -> np.ndarray:
    """A deterministic 'prediction': shifted 3 px right and 2 px down, one block relabelled,
    ignored pixels predicted as road, one class absent from the truth predicted somewhere."""
    pred = np.roll(gt, (2, 3), axis=(0, 1))
    pred[pred == 255] = 0
    h, w = gt.shape
    pred[h // 3:h // 2, w // 4:w // 3] = 8
    pred[:4, :6] = 18  # bicycle: never in these labels
    return pred


def _independent(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> dict:
    """IoU and accuracies from pixel-coordinate sets, class by class."""
    valid = {tuple(p) for p in np.argwhere(gt != 255)}
    iou, acc, correct = [], [], 0
    for c in range(num_classes):
        g = {tuple(p) for p in np.argwhere(gt == c)}
        p = {tuple(q) for q in np.argwhere(pred == c)} & valid
        inter, union = len(g & p), len(g | p)
        iou.append(inter / union if union else math.nan)
        acc.append(inter / len(g) if g else math.nan)
        correct += inter
    return {"iou": iou, "acc": acc, "pixel_acc": correct / len(valid)}


@pytest.mark.parametrize("which", ["cityscapes", "deeplab2"])
def test_matches_set_computation_on_real_labels(shared_data: Path, which: str) -> None:
    gt = _real_truth(shared_data) if which == "cityscapes" else _street_truth(shared_data)
    if which == "deeplab2":
        gt = cv2.resize(gt.astype(np.uint8), (200, 200), interpolation=cv2.INTER_NEAREST).astype(np.int64)
    pred = _perturb(gt)
    cm = ConfusionMatrix(19)
    cm.update(pred, gt)
    got = cm.compute()
    ref = _independent(gt, pred, 19)
    np.testing.assert_allclose(got["iou"], ref["iou"], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got["acc"], ref["acc"], rtol=1e-12, equal_nan=True)
    assert got["mIoU"] == pytest.approx(np.nanmean(ref["iou"]), rel=1e-12)
    assert got["mean_acc"] == pytest.approx(np.nanmean(ref["acc"]), rel=1e-12)
    assert got["pixel_acc"] == pytest.approx(ref["pixel_acc"], rel=1e-12)
    assert got["num_pixels"] == int((gt != 255).sum())
    assert got["iou"][18] == 0.0 and math.isnan(got["acc"][18])  # predicted only: IoU 0, acc undefined
    present = set(np.unique(gt)) | set(np.unique(pred[gt != 255]))
    assert all(math.isnan(got["iou"][c]) for c in range(19) if c not in present)
    assert 0.3 < got["mIoU"] < 0.95


def test_streaming_merge_and_torch_agree(shared_data: Path) -> None:
    gt = _real_truth(shared_data)
    pred = _perturb(gt)
    whole = ConfusionMatrix(19)
    whole.update(pred, gt)
    halves = ConfusionMatrix(19)
    halves.update(pred[:50], gt[:50])
    other = ConfusionMatrix(19)
    other.update(torch.from_numpy(pred[50:]), torch.from_numpy(gt[50:]))
    halves.merge(other)
    np.testing.assert_array_equal(halves.matrix, whole.matrix)
    batched = ConfusionMatrix(19)
    batched.update(torch.from_numpy(np.stack([pred, pred])), torch.from_numpy(np.stack([gt, gt])))
    np.testing.assert_array_equal(batched.matrix, 2 * whole.matrix)
    assert batched.compute()["iou"] == pytest.approx(whole.compute()["iou"], nan_ok=True)
    merged = ConfusionMatrix(19).merge(whole.matrix.copy())
    np.testing.assert_array_equal(merged.matrix, whole.matrix)
    merged.all_reduce()  # no process group: unchanged
    np.testing.assert_array_equal(merged.matrix, whole.matrix)
    merged.reset()
    assert merged.matrix.sum() == 0 and math.isnan(merged.compute()["mIoU"])


def test_perfect_prediction_and_errors(shared_data: Path) -> None:
    gt = _real_truth(shared_data)
    cm = ConfusionMatrix(19)
    cm.update(np.where(gt == 255, 0, gt), gt)
    res = cm.compute()
    assert res["mIoU"] == 1.0 and res["pixel_acc"] == 1.0 and res["mean_acc"] == 1.0
    assert sum(not math.isnan(v) for v in res["iou"]) == 10
    with pytest.raises(ValueError, match="shape"):
        cm.update(gt[:10], gt)
    with pytest.raises(ValueError, match="label values"):
        cm.update(np.zeros((2, 2)), np.array([[0, 19], [0, 0]]))
    with pytest.raises(ValueError, match="predicted"):
        cm.update(np.array([[0, 19]]), np.array([[0, 0]]))
    with pytest.raises(ValueError, match="merge"):
        cm.merge(np.zeros((3, 3)))


def test_format_table(shared_data: Path) -> None:
    gt = _real_truth(shared_data)
    cm = ConfusionMatrix(19)
    cm.update(_perturb(gt), gt)
    res = cm.compute()
    table = format_table(res, CITYSCAPES_CLASSES)
    lines = table.splitlines()
    assert len(lines) == 2 + 19 + 2
    assert lines[2].startswith("road") and f"{100 * res['iou'][0]:.2f}" in lines[2]
    assert "nan" in table and f"mIoU {100 * res['mIoU']:.2f}" in lines[-1]
    with pytest.raises(ValueError, match="class names"):
        format_table(res, CITYSCAPES_CLASSES[:5])
