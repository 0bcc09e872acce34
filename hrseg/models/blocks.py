"""Residual blocks a branch of HRNet can be built from, looked up by name in :data:`BLOCKS`
(BASIC and BOTTLENECK here; EfficientNet's MBCONV and FUSED_MBCONV from :mod:`hrseg.models.mbconv`).

Every block takes ``(in_channels, planes, stride, norm, **options)`` and produces
``planes * expansion`` channels; it adds its own projection shortcut when the shape changes.
Parameter names follow the official HRNet code (conv1/bn1, ..., downsample.0/1) so that
official checkpoints load unchanged.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hrseg.errors import ConfigError
from hrseg.models.layers import NormFactory, conv1x1, conv3x3, projection_shortcut as _shortcut
from hrseg.models.mbconv import FusedMBConv, MBConv


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34 style)."""

    expansion = 1
    compile_region = True  # compiled on its own under train.compile (hrseg.engine.speed.compile_regions)

    def __init__(self, in_channels: int, planes: int, stride: int = 1, norm: NormFactory = nn.BatchNorm2d,
                 **_: Any) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = norm(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, planes, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand by 4, with a residual connection (ResNet-50 style)."""

    expansion = 4
    compile_region = True  # compiled on its own under train.compile (hrseg.engine.speed.compile_regions)

    def __init__(self, in_channels: int, planes: int, stride: int = 1, norm: NormFactory = nn.BatchNorm2d,
                 **_: Any) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = norm(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm(planes)
        self.conv3 = conv1x1(planes, out_channels)
        self.bn3 = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS: dict[str, type[nn.Module]] = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck, "MBCONV": MBConv,
                                       "FUSED_MBCONV": FusedMBConv}


def get_block(name: str) -> type[nn.Module]:
    try:
        return BLOCKS[name]
    except KeyError:
        raise ConfigError(f"unknown block type {name!r}; choose one of {sorted(BLOCKS)}") from None


def make_blocks(block: str, in_channels: int, planes: int, num_blocks: int, norm: NormFactory,
                stride: int = 1, **options: Any) -> nn.Sequential:
    """A sequence of ``num_blocks`` blocks; only the first changes stride/channels."""
    cls = get_block(block)
    layers = [cls(in_channels, planes, stride, norm, **options)]
    out_channels = planes * cls.expansion
    layers += [cls(out_channels, planes, 1, norm, **options) for _ in range(num_blocks - 1)]
    return nn.Sequential(*layers)
