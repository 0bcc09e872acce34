"""Heatmap losses of the official HRNet code (``lib/core/loss.py``), vectorised.

Both take heatmaps ``output``/``target`` (N, K, H, W) and ``target_weight`` (N, K, 1) or (N, K).
:class:`JointsMSELoss` is ``0.5 * MSE`` per joint averaged over joints, i.e. ``0.5 *
mean(((output - target) * w) ** 2)`` over every element; :class:`JointsOHKMLoss` keeps, per
sample, the mean of its ``topk`` largest per-joint losses (online hard keypoint mining), then
averages over the batch.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["JointsMSELoss", "JointsOHKMLoss"]


def _per_joint_loss(output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
                    use_target_weight: bool) -> torch.Tensor:
    """``0.5 * mean over pixels of ((output - target) * w) ** 2`` per sample and joint: (N, K)."""
    n, k = output.shape[:2]
    diff = output.reshape(n, k, -1) - target.reshape(n, k, -1)
    if use_target_weight:
        diff = diff * target_weight.reshape(n, k, 1)
    return 0.5 * diff.pow(2).mean(dim=2)


class JointsMSELoss(nn.Module):
    """Official ``JointsMSELoss``."""

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weight: torch.Tensor) -> torch.Tensor:
        return _per_joint_loss(output, target, target_weight, self.use_target_weight).mean()


class JointsOHKMLoss(nn.Module):
    """Official ``JointsOHKMMSELoss``: the mean of the ``topk`` hardest joints per sample."""

    def __init__(self, use_target_weight: bool = True, topk: int = 8) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.topk = topk

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weight: torch.Tensor) -> torch.Tensor:
        loss = _per_joint_loss(output, target, target_weight, self.use_target_weight)
        if self.topk > loss.shape[1]:
            raise ValueError(f"OHKM topk={self.topk} exceeds the {loss.shape[1]} joints")
        return loss.topk(self.topk, dim=1, sorted=False).values.mean()
