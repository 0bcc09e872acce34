"""Small shared layers: convolutions and the selectable normalisation layer."""
from __future__ import annotations

from typing import Callable

from torch import nn

from hrseg.errors import ConfigError

NormFactory = Callable[[int], nn.Module]


def _group_norm(channels: int) -> nn.GroupNorm:
    groups = 32
    while channels % groups:
        groups //= 2
    return nn.GroupNorm(groups, channels)


_NORMS: dict[str, NormFactory] = {
    "BN": nn.BatchNorm2d,
    "SyncBN": nn.SyncBatchNorm,
    "GN": _group_norm,
}


def norm_factory(norm: str | NormFactory = "BN") -> NormFactory:
    """Return a callable ``channels -> norm layer`` for 'BN', 'SyncBN' or 'GN' (or a callable)."""
    if callable(norm):
        return norm
    try:
        return _NORMS[norm]
    except KeyError:
        raise ConfigError(f"unknown norm layer {norm!r}; choose one of {sorted(_NORMS)}") from None


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def conv_norm(in_channels: int, out_channels: int, norm: NormFactory, kernel: int = 3, stride: int = 1,
              relu: bool = True) -> nn.Sequential:
    """Conv (no bias) + norm (+ ReLU): the unit of HRNet's transitions and fusions."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False),
        norm(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def projection_shortcut(in_channels: int, out_channels: int, stride: int, norm: NormFactory) -> nn.Module | None:
    """A residual block's shortcut: None where the shape is kept, else a strided 1x1 conv + norm
    (the official ``downsample.0/1``)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), norm(out_channels))
