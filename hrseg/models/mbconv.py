"""MBConv (MobileNetV2's inverted residual with EfficientNet's squeeze-and-excitation) and
Fused-MBConv (EfficientNetV2).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (CVPR 2018); Tan & Le,
"EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks" (ICML 2019).

Registered as block type ``"MBCONV"`` so that any HRNet stage can use it, e.g.
``spec.with_block("MBCONV", expand_ratio=4, se_ratio=0.25)``. It follows the block interface of
:mod:`hrseg.models.blocks`: ``(in_channels, planes, stride, norm, **options)``, ``expansion = 1``
and a projection shortcut (1x1 conv + norm, as the other blocks) where the shape changes, so the
first block of an HRNet branch can change the channel count. Parameter names follow timm's
``InvertedResidual`` (conv_pw/bn1, conv_dw/bn2, se.conv_reduce/conv_expand, conv_pwl/bn3).

``"FUSED_MBCONV"`` (Tan & Le, "EfficientNetV2: Smaller Models and Faster Training", ICML 2021)
replaces the 1x1 expansion and the depthwise kxk by one dense kxk expansion convolution: more
multiply-adds, but dense convolutions use a CPU or accelerator far better than depthwise ones.
With ``expand_ratio == 1`` it is a single kxk convolution (+ SE) with the residual. Parameter
names follow timm's ``EdgeResidual`` (conv_exp/bn1, se, conv_pwl/bn2).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from hrseg.errors import ConfigError
from hrseg.models.layers import NormFactory, conv1x1, projection_shortcut

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "relu": nn.ReLU,
    "hardswish": nn.Hardswish,
}


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module: 'silu' (= 'swish', EfficientNet's), 'relu' or 'hardswish'."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


def _check_options(name: str, expand_ratio: float, kernel_size: int, se_ratio: float, drop_path_rate: float) -> None:
    if kernel_size % 2 != 1:
        raise ConfigError(f"{name} kernel_size must be odd, got {kernel_size}")
    if expand_ratio < 1 or not 0 <= se_ratio <= 1 or not 0 <= drop_path_rate <= 1:
        raise ConfigError(f"{name} needs expand_ratio >= 1, se_ratio and drop_path_rate in [0, 1]; got "
                          f"{expand_ratio}, {se_ratio}, {drop_path_rate}")


def _squeeze_excite(hidden: int, in_channels: int, se_ratio: float, activation: str) -> "SqueezeExcite | None":
    """EfficientNet's SE: ``max(1, int(in_channels * se_ratio))`` channels (None for ratio 0)."""
    return SqueezeExcite(hidden, max(1, int(in_channels * se_ratio)), activation) if se_ratio > 0 else None


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero the whole residual branch of a random ``rate`` of the samples and
    rescale the others by ``1 / (1 - rate)``, so that the expectation is unchanged."""
    if rate <= 0.0 or not training:
        return x
    keep = 1.0 - rate
    if keep <= 0.0:
        return torch.zeros_like(x)
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class SqueezeExcite(nn.Module):
    """Channel gate: global average pool, 1x1 reduce + activation, 1x1 expand + sigmoid, rescale."""

    def __init__(self, channels: int, reduced: int, activation: str = "silu") -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.act = activation_layer(activation)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.conv_expand(self.act(self.conv_reduce(s)))
        return x * torch.sigmoid(s)


class MBConv(nn.Module):
    """1x1 expansion (skipped for ``expand_ratio == 1``) + norm + act, depthwise kxk (stride) +
    norm + act, squeeze-and-excitation, 1x1 linear projection + norm, residual.

    Args:
        expand_ratio: hidden width = ``round(in_channels * expand_ratio)``.
        kernel_size: of the depthwise convolution (odd).
        se_ratio: the SE bottleneck has ``max(1, int(in_channels * se_ratio))`` channels, as in
            EfficientNet (relative to the block's input, not its hidden width); 0 disables SE.
        activation: 'silu' / 'swish' (default), 'relu' or 'hardswish'; also used inside SE.
        drop_path_rate: stochastic depth on the residual branch while training.

    There is no activation after the sum (linear bottleneck). Unknown options are errors, not
    ignored, so that a typo in a config cannot silently build the default block.
    """

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, norm: NormFactory = nn.BatchNorm2d, *,
                 expand_ratio: float = 4.0, kernel_size: int = 3, se_ratio: float = 0.25,
                 activation: str = "silu", drop_path_rate: float = 0.0) -> None:
        super().__init__()
        _check_options("MBConv", expand_ratio, kernel_size, se_ratio, drop_path_rate)
        hidden = int(round(in_channels * expand_ratio))
        if expand_ratio != 1:
            self.conv_pw = conv1x1(in_channels, hidden)
            self.bn1 = norm(hidden)
            self.act1 = activation_layer(activation)
        else:
            hidden = in_channels
            self.conv_pw = None
        self.conv_dw = nn.Conv2d(hidden, hidden, kernel_size, stride=stride, padding=kernel_size // 2,
                                 groups=hidden, bias=False)
        self.bn2 = norm(hidden)
        self.act2 = activation_layer(activation)
        self.se = _squeeze_excite(hidden, in_channels, se_ratio, activation)
        self.conv_pwl = conv1x1(hidden, planes)
        self.bn3 = norm(planes)
        self.downsample = projection_shortcut(in_channels, planes, stride, norm)
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = x
        if self.conv_pw is not None:
            out = self.act1(self.bn1(self.conv_pw(out)))
        out = self.act2(self.bn2(self.conv_dw(out)))
        if self.se is not None:
            out = self.se(out)
        out = self.bn3(self.conv_pwl(out))
        return shortcut + drop_path(out, self.drop_path_rate, self.training)

    def extra_repr(self) -> str:
        return f"drop_path_rate={self.drop_path_rate}" if self.drop_path_rate else ""


class FusedMBConv(nn.Module):
    """Dense kxk expansion conv (stride) + norm + act, squeeze-and-excitation, 1x1 linear
    projection + norm, residual; with ``expand_ratio == 1`` the kxk convolution maps straight to
    ``planes`` (+ norm + act, then SE) and there is no projection.

    Options as :class:`MBConv` (``expand_ratio``, ``kernel_size``, ``se_ratio``, ``activation``,
    ``drop_path_rate``); EfficientNetV2 uses it without SE (``se_ratio=0``) in its early stages.
    """

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, norm: NormFactory = nn.BatchNorm2d, *,
                 expand_ratio: float = 4.0, kernel_size: int = 3, se_ratio: float = 0.0,
                 activation: str = "silu", drop_path_rate: float = 0.0) -> None:
        super().__init__()
        _check_options("FusedMBConv", expand_ratio, kernel_size, se_ratio, drop_path_rate)
        hidden = planes if expand_ratio == 1 else int(round(in_channels * expand_ratio))
        self.conv_exp = nn.Conv2d(in_channels, hidden, kernel_size, stride=stride, padding=kernel_size // 2,
                                  bias=False)
        self.bn1 = norm(hidden)
        self.act1 = activation_layer(activation)
        self.se = _squeeze_excite(hidden, in_channels, se_ratio, activation)
        if expand_ratio != 1:
            self.conv_pwl = conv1x1(hidden, planes)
            self.bn2 = norm(planes)
        else:
            self.conv_pwl = None
        self.downsample = projection_shortcut(in_channels, planes, stride, norm)
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv_exp(x)))
        if self.se is not None:
            out = self.se(out)
        if self.conv_pwl is not None:
            out = self.bn2(self.conv_pwl(out))
        return shortcut + drop_path(out, self.drop_path_rate, self.training)

    def extra_repr(self) -> str:
        return f"drop_path_rate={self.drop_path_rate}" if self.drop_path_rate else ""
