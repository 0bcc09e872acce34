"""The three HRNet representations over the backbone's stream outputs.

Wang et al., "Deep High-Resolution Representation Learning for Visual Recognition" (TPAMI 2020):
V1 keeps the high-resolution stream only (pose), V2 upsamples every stream to stride 4 and
concatenates them (segmentation), V2p builds a feature pyramid from V2 (detection).
Each module declares the channels and strides it produces.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class V1(nn.Module):
    """The stride-4 stream alone."""

    def __init__(self, in_channels: list[int]) -> None:
        super().__init__()
        self.out_channels = in_channels[0]
        self.out_stride = 4

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return feats[0]


class V2(nn.Module):
    """All streams upsampled bilinearly to stride 4 and concatenated (C + 2C + 4C + 8C = 15C)."""

    def __init__(self, in_channels: list[int], align_corners: bool = False) -> None:
        super().__init__()
        self.out_channels = sum(in_channels)
        self.out_stride = 4
        self.align_corners = align_corners

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        ups = [feats[0]] + [
            F.interpolate(f, size=size, mode="bilinear", align_corners=self.align_corners) for f in feats[1:]
        ]
        return torch.cat(ups, dim=1)


class V2p(nn.Module):
    """V2, a 1x1 conv to ``out_channels``, then average pooling into ``num_levels`` levels at
    strides 4, 8, ..., each followed by a 3x3 conv (the HRNetV2p / HRFPN neck)."""

    def __init__(self, in_channels: list[int], out_channels: int = 256, num_levels: int = 5,
                 align_corners: bool = False) -> None:
        super().__init__()
        self.concat = V2(in_channels, align_corners)
        self.reduction = nn.Conv2d(self.concat.out_channels, out_channels, 1)
        self.level_convs = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in range(num_levels)
        )
        self.out_channels = out_channels
        self.out_strides = [4 * 2 ** i for i in range(num_levels)]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=1)
                nn.init.zeros_(m.bias)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        x = self.reduction(self.concat(feats))
        levels = [x] + [F.avg_pool2d(x, kernel_size=2 ** i, stride=2 ** i, ceil_mode=True)
                        for i in range(1, len(self.level_convs))]
        return [conv(level) for conv, level in zip(self.level_convs, levels)]
