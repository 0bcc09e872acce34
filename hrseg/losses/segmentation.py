"""Segmentation losses of the official HRNet-Semantic-Segmentation code (``lib/core/criterion.py``).

Logits at stride 4 are upsampled bilinearly to the label size before the loss, as the official
code does. :class:`SegCrossEntropy` is cross-entropy with an ignore index and optional class
weights; with ``ohem`` it is the official ``OhemCrossEntropy``: among the labelled pixels of the
batch, only those whose predicted probability of their true class is below
``max(thresh, p_(min_kept))`` count (``p_(k)`` the k-th smallest such probability), so at least
``min_kept`` hard pixels always contribute. A model with several outputs (HRNet + OCR: logits and
auxiliary logits) gets one loss per output, summed with ``weights``; as in the official code,
OHEM applies to the main (first) output and the auxiliary ones use plain cross-entropy.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SegCrossEntropy", "ohem_cross_entropy", "ohem_cross_entropy_device"]


def _resize_to(logits: torch.Tensor, label: torch.Tensor, align_corners: bool) -> torch.Tensor:
    if logits.shape[-2:] != label.shape[-2:]:
        logits = F.interpolate(logits, size=label.shape[-2:], mode="bilinear", align_corners=align_corners)
    return logits


def ohem_cross_entropy(logits: torch.Tensor, label: torch.Tensor, thresh: float = 0.7, min_kept: int = 100000,
                       weight: torch.Tensor | None = None, ignore_index: int = 255) -> torch.Tensor:
    """The official OHEM cross-entropy (see the module docstring); logits and label same size."""
    pixel_losses = F.cross_entropy(logits, label, weight=weight, ignore_index=ignore_index,
                                   reduction="none").reshape(-1)
    valid = label.reshape(-1) != ignore_index
    if not bool(valid.any()):
        return logits.sum() * 0.0  # nothing labelled in the batch: no gradient, no NaN
    with torch.no_grad():
        target = label.clone()
        target[target == ignore_index] = 0
        prob = torch.softmax(logits.float(), dim=1).gather(1, target.unsqueeze(1)).reshape(-1)[valid]
        sorted_prob, order = prob.sort()
        kth = sorted_prob[min(max(int(min_kept), 1), sorted_prob.numel() - 1)]
        threshold = torch.clamp(kth, min=float(thresh))
    hard = pixel_losses[valid][order][sorted_prob < threshold]
    if hard.numel() == 0:
        return logits.sum() * 0.0
    return hard.mean()


def ohem_cross_entropy_device(logits: torch.Tensor, label: torch.Tensor, thresh: float = 0.7,
                              min_kept: int = 100000, weight: torch.Tensor | None = None,
                              ignore_index: int = 255) -> torch.Tensor:
    """:func:`ohem_cross_entropy` without a host synchronisation (no ``bool()`` of a tensor, no
    data-dependent shapes), so a CUDA graph can hold it: the unlabelled pixels sort last (their
    probability set to +inf), the k-th smallest is gathered at a tensor index, the hard pixels are
    a mask. Equal to the official selection (tests/test_seg_loss.py)."""
    pixel_losses = F.cross_entropy(logits, label, weight=weight, ignore_index=ignore_index,
                                   reduction="none").reshape(-1)
    valid = label.reshape(-1) != ignore_index
    with torch.no_grad():
        target = label.masked_fill(label == ignore_index, 0)
        prob = torch.softmax(logits.float(), dim=1).gather(1, target.unsqueeze(1)).reshape(-1)
        sorted_prob = prob.masked_fill(~valid, float("inf")).sort().values
        k = (valid.sum() - 1).clamp(min=0, max=max(int(min_kept), 1))
        threshold = torch.clamp(sorted_prob.gather(0, k.reshape(1)), min=float(thresh))
        hard = valid & (prob < threshold)
    n = hard.sum()
    return torch.where(n > 0, (pixel_losses * hard).sum() / n.clamp(min=1), logits.sum() * 0.0)


class SegCrossEntropy(nn.Module):
    """Cross-entropy (or OHEM cross-entropy) over one or several logit maps.

    ``weights``: one factor per model output (e.g. ``(1.0, 0.4)`` for OCR's logits and
    auxiliary logits); outputs beyond its length are not used. ``class_weight``: one factor per
    class (the official Cityscapes configs use 19 of them). ``avg_non_ignore`` (the official code's and
    PyTorch's mean): the (class-weighted) mean over the labelled pixels; False: the sum over every pixel
    divided by their number, ignored ones included, as mmsegmentation's ``CrossEntropyLoss`` (0.x and 1.x
    default ``avg_non_ignore=False``); OHEM keeps its own mean.
    """

    def __init__(self, ignore_index: int = 255, class_weight: Sequence[float] | None = None, ohem: bool = False,
                 ohem_thresh: float = 0.7, ohem_min_kept: int = 100000, weights: Sequence[float] = (1.0,),
                 align_corners: bool = False, avg_non_ignore: bool = True) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.ohem, self.ohem_thresh, self.ohem_min_kept = ohem, float(ohem_thresh), int(ohem_min_kept)
        self.weights = tuple(float(w) for w in weights)
        self.align_corners, self.avg_non_ignore = align_corners, bool(avg_non_ignore)
        cw = torch.tensor(list(class_weight), dtype=torch.float32) if class_weight is not None else None
        self.register_buffer("class_weight", cw, persistent=False)

    def single(self, logits: torch.Tensor, label: torch.Tensor, ohem: bool | None = None) -> torch.Tensor:
        """The loss of one logit map (``ohem``: None = as configured)."""
        logits = _resize_to(logits, label, self.align_corners)
        weight = self.class_weight
        if weight is not None:
            if weight.numel() != logits.shape[1]:
                raise ValueError(f"loss.class_weight has {weight.numel()} values for {logits.shape[1]} classes")
            weight = weight.to(device=logits.device, dtype=logits.dtype)
        if self.ohem if ohem is None else ohem:  # on a GPU: the selection that stays on the device
            ohem_loss = ohem_cross_entropy_device if logits.is_cuda else ohem_cross_entropy
            return ohem_loss(logits, label, self.ohem_thresh, self.ohem_min_kept, weight, self.ignore_index)
        if not self.avg_non_ignore:  # mmsegmentation's mean over every pixel (an ignored one counts 0)
            return F.cross_entropy(logits, label, weight=weight, ignore_index=self.ignore_index,
                                   reduction="none").mean()
        if not bool((label != self.ignore_index).any()):
            return logits.sum() * 0.0
        return F.cross_entropy(logits, label, weight=weight, ignore_index=self.ignore_index)

    def forward(self, outputs: torch.Tensor | Sequence[torch.Tensor], label: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        """``{'loss': weighted sum}``, plus ``loss_seg`` and ``loss_aux`` (the terms) for several outputs."""
        if isinstance(outputs, torch.Tensor):
            outputs = [outputs]
        terms = [self.single(out, label, None if i == 0 else False)
                 for i, (out, _) in enumerate(zip(outputs, self.weights))]
        total = sum(w * t for w, t in zip(self.weights, terms))
        result = {"loss": total}
        if len(terms) > 1:
            result["loss_seg"] = terms[0].detach()
            for i, t in enumerate(terms[1:]):
                result["loss_aux" if i == 0 else f"loss_aux{i + 1}"] = t.detach()
        return result
