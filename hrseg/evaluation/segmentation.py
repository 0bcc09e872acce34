"""Semantic segmentation metrics from a streaming confusion matrix.

IoU per class is ``TP / (TP + FP + FN)``, NaN for a class absent from both the labels and the
predictions; mIoU is the mean over the other classes (mmsegmentation's nanmean). Pixels labelled
``ignore_index`` are left out. The matrix is a plain int64 array, so results from several
processes add up exactly (:meth:`ConfusionMatrix.merge`, :meth:`ConfusionMatrix.all_reduce`).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch


class ConfusionMatrix:
    """``matrix[g, p]`` counts pixels of ground-truth class g predicted as class p."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def reset(self) -> None:
        self.matrix[:] = 0

    def update(self, pred: np.ndarray | torch.Tensor, label: np.ndarray | torch.Tensor) -> None:
        """Add predicted class maps and labels of the same shape (any batch layout).

        Tensors are counted on their own device (one bincount), arrays with numpy.
        """
        if tuple(pred.shape) != tuple(label.shape):
            raise ValueError(f"prediction shape {tuple(pred.shape)} differs from label shape {tuple(label.shape)}")
        k = self.num_classes
        if isinstance(pred, torch.Tensor) or isinstance(label, torch.Tensor):
            p, g = torch.as_tensor(pred), torch.as_tensor(label)
            g = g.to(p.device).reshape(-1).long()
            p = p.reshape(-1).long()
            keep = g != self.ignore_index
            p, g = p[keep], g[keep]
            if g.numel():
                self._check_range(int(g.min()), int(g.max()), int(p.min()), int(p.max()))
            counts = torch.bincount(g * k + p, minlength=k * k).cpu().numpy()
        else:
            g = np.asarray(label).reshape(-1).astype(np.int64)
            p = np.asarray(pred).reshape(-1).astype(np.int64)
            keep = g != self.ignore_index
            p, g = p[keep], g[keep]
            if g.size:
                self._check_range(int(g.min()), int(g.max()), int(p.min()), int(p.max()))
            counts = np.bincount(g * k + p, minlength=k * k)
        self.matrix += counts.reshape(k, k)

    def _check_range(self, gmin: int, gmax: int, pmin: int, pmax: int) -> None:
        k = self.num_classes
        if gmin < 0 or gmax >= k:
            raise ValueError(f"label values {gmin}..{gmax} outside 0..{k - 1} and not ignore ({self.ignore_index})")
        if pmin < 0 or pmax >= k:
            raise ValueError(f"predicted classes {pmin}..{pmax} outside 0..{k - 1}")

    def merge(self, other: ConfusionMatrix | np.ndarray) -> ConfusionMatrix:
        """Add another matrix (e.g. gathered from another process); returns self."""
        m = other.matrix if isinstance(other, ConfusionMatrix) else np.asarray(other)
        if m.shape != self.matrix.shape:
            raise ValueError(f"cannot merge a {m.shape} confusion matrix into {self.matrix.shape}")
        self.matrix += m.astype(np.int64)
        return self

    def all_reduce(self) -> None:
        """Sum the matrices of all processes in place (no-op without torch.distributed)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        t = torch.from_numpy(self.matrix).to(device)
        dist.all_reduce(t)
        self.matrix = t.cpu().numpy()

    def compute(self) -> dict[str, Any]:
        """Metrics as plain Python numbers: ``mIoU``, ``pixel_acc``, ``mean_acc``, per-class
        ``iou`` and ``acc`` (NaN where undefined), and ``num_pixels`` counted."""
        m = self.matrix.astype(np.float64)
        tp = np.diag(m)
        gt = m.sum(1)
        union = gt + m.sum(0) - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, tp / union, np.nan)
            acc = np.where(gt > 0, tp / gt, np.nan)
        total = m.sum()
        return {
            "mIoU": _nanmean(iou),
            "pixel_acc": float(tp.sum() / total) if total else math.nan,
            "mean_acc": _nanmean(acc),
            "iou": iou.tolist(),
            "acc": acc.tolist(),
            "num_pixels": int(total),
        }


def _nanmean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


def format_table(result: dict[str, Any], class_names: Sequence[str] | None = None) -> str:
    """A printable table of per-class IoU and accuracy (percent), with the summary below."""
    iou, acc = result["iou"], result["acc"]
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(iou))]
    if len(names) != len(iou):
        raise ValueError(f"{len(names)} class names for {len(iou)} classes")
    width = max(8, *(len(n) for n in names))
    pct = lambda v: "nan" if v is None or math.isnan(v) else f"{100 * v:.2f}"  # noqa: E731
    lines = [f"{'class':<{width}} | {'IoU %':>6} | {'Acc %':>6}", f"{'-' * width}-+-{'-' * 6}-+-{'-' * 6}"]
    lines += [f"{n:<{width}} | {pct(i):>6} | {pct(a):>6}" for n, i, a in zip(names, iou, acc)]
    lines.append(f"{'-' * width}-+-{'-' * 6}-+-{'-' * 6}")
    lines.append(f"mIoU {pct(result['mIoU'])}%  mAcc {pct(result['mean_acc'])}%  aAcc {pct(result['pixel_acc'])}%")
    return "\n".join(lines)
