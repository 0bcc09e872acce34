"""Heatmap losses of the official HRNet code (``lib/core/loss.py``), vectorised.

Both take heatmaps ``output``/``target`` (N, K, H, W) and ``target_weight`` (N, K, 1) or (N, K).
:class:`JointsMSELoss` is ``0.5 * MSE`` per joint averaged over joints, i.e. ``0.5 *
mean(((output - target) * w) ** 2)`` over every element; :class:`JointsOHKMLoss` keeps, per
sample, the mean of its ``topk`` largest per-joint losses (online hard keypoint mining), then
averages over the batch. :class:`CombinedTargetMSELoss` is mmpose's loss of UDP's combined maps
(:mod:`hrseg.codecs.combined`). :func:`keypoint_loss` builds one from a config's ``loss`` section.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from hrseg.errors import ConfigError

__all__ = ["CombinedTargetMSELoss", "JointsMSELoss", "JointsOHKMLoss", "keypoint_loss"]


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


class CombinedTargetMSELoss(nn.Module):
    """mmpose's ``CombinedTargetMSELoss`` of UDP's combined maps (N, K * 3, H, W), vectorised: per joint
    ``0.5 * MSE`` of the disk maps (weighted) plus ``0.5 * MSE`` of each offset map where the (weighted)
    target disk is, averaged over the joints."""

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weight: torch.Tensor) -> torch.Tensor:
        n, c = output.shape[:2]
        pred, gt = output.reshape(n, c // 3, 3, -1), target.reshape(n, c // 3, 3, -1)
        disk_pred, disk_gt = pred[:, :, 0], gt[:, :, 0]
        if self.use_target_weight:
            weight = target_weight.reshape(n, c // 3, 1)
            disk_pred, disk_gt = disk_pred * weight, disk_gt * weight
        offsets = disk_gt[:, :, None] * (pred[:, :, 1:] - gt[:, :, 1:])
        return 0.5 * ((disk_pred - disk_gt).pow(2).mean() + 2 * offsets.pow(2).mean())


def keypoint_loss(loss_cfg: Mapping[str, Any], maps_per_joint: int = 1) -> nn.Module:
    """The loss of a config's ``loss`` section for a codec drawing ``maps_per_joint`` maps a joint
    (3: UDP's combined maps, which take ``type="mse"``, mmpose's combined loss)."""
    kind, weighted = loss_cfg["type"], loss_cfg["use_target_weight"]
    if kind not in ("mse", "ohkm"):
        raise ConfigError(f"unknown loss.type {kind!r}; choose 'mse' or 'ohkm'")
    if maps_per_joint == 3:
        if kind != "mse":
            raise ConfigError("loss.type: the combined maps (data.heatmap_type 'combined') take 'mse' (mmpose's "
                              f"CombinedTargetMSELoss), not {kind!r}")
        return CombinedTargetMSELoss(weighted)
    return JointsMSELoss(weighted) if kind == "mse" else JointsOHKMLoss(weighted, topk=loss_cfg["topk"])
