"""HRNet: a high-resolution stream kept from the stem to the end, lower-resolution streams added
stage by stage, and repeated multi-resolution fusion between them.

Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation" (CVPR 2019)
and "... for Visual Recognition" (TPAMI 2020). Module and parameter names follow the official
code (conv1, bn1, conv2, bn2, layer1, transition1, stage2, ..., stage4) so that the official pose,
segmentation and ImageNet checkpoints load without renaming.

The architecture is data: an :class:`HRNetSpec` lists the stages (modules, blocks per branch,
channels per branch, block type); :func:`hrnet_spec` derives one from a base width ``C`` (branch
widths C, 2C, 4C, 8C) and a short list of what differs from the standard layout.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hrseg.errors import ConfigError
from hrseg.models.blocks import get_block, make_blocks
from hrseg.models.registry import ModelInfo, register_model
from hrseg.models.layers import NormFactory, conv_norm, norm_factory

UpsampleMode = Literal["nearest", "bilinear"]
FusionConv = Literal["dense", "separable"]


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``num_modules`` repeated modules over ``len(num_channels)`` parallel branches."""

    num_modules: int
    num_blocks: tuple[int, ...]
    num_channels: tuple[int, ...]
    block: str = "BASIC"
    block_options: tuple[tuple[str, Any], ...] = ()

    @property
    def num_branches(self) -> int:
        return len(self.num_channels)

    def out_channels(self) -> list[int]:
        expansion = get_block(self.block).expansion
        return [c * expansion for c in self.num_channels]


@dataclass(frozen=True)
class HRNetSpec:
    """The whole network: the stem width and the four stages (stage 1 has one branch).

    ``fusion`` is the kind of the 3x3 convolutions of the transitions and of the fusion
    down-paths: 'dense' (the papers' and official checkpoints' layout) or 'separable' (depthwise
    3x3 + norm + pointwise 1x1, as Lite-HRNet does: the fusions then stop dominating the cost of a
    network built from light blocks).
    """

    stages: tuple[StageSpec, ...]
    stem_width: int = 64
    fusion: FusionConv = "dense"

    def with_block(self, block: str, **options: Any) -> "HRNetSpec":
        """The same network with another block type in the multi-branch stages (2 to 4)."""
        opts = tuple(sorted(options.items()))
        stages = (self.stages[0],) + tuple(replace(s, block=block, block_options=opts) for s in self.stages[1:])
        return replace(self, stages=stages)


def hrnet_spec(width: int, *, modules: tuple[int, int, int] = (1, 4, 3), blocks: int = 4,
               stage1_blocks: int = 4, stage1_planes: int = 64, block: str = "BASIC",
               stem_width: int = 64, fusion: FusionConv = "dense") -> HRNetSpec:
    """The standard HRNet layout for base width ``C``: branch widths C, 2C, 4C, 8C.

    ``modules`` are the modules of stages 2, 3 and 4; ``blocks`` the blocks per branch in each
    module; stage 1 is ``stage1_blocks`` Bottleneck blocks of ``stage1_planes`` planes.
    """
    stage1 = StageSpec(1, (stage1_blocks,), (stage1_planes,), block="BOTTLENECK")
    stages = [stage1]
    for i, num_modules in enumerate(modules):
        branches = i + 2
        stages.append(StageSpec(num_modules, (blocks,) * branches,
                                tuple(width * 2 ** b for b in range(branches)), block=block))
    return HRNetSpec(tuple(stages), stem_width, fusion)


# Named configurations: a width and what differs from the standard layout (the ImageNet,
# pose and segmentation papers' W18..W64; the two small W18 variants of the segmentation repo).
_NAMED: dict[str, dict[str, Any]] = {
    "hrnet_w18_small_v1": dict(width=16, modules=(1, 1, 1), blocks=2, stage1_blocks=1, stage1_planes=32),
    "hrnet_w18_small_v2": dict(width=18, modules=(1, 3, 2), blocks=2, stage1_blocks=2),
    **{f"hrnet_w{w}": dict(width=w) for w in (18, 30, 32, 40, 44, 48, 64)},
}


def named_specs() -> list[str]:
    return list(_NAMED)


def named_spec(name: str) -> HRNetSpec:
    try:
        kwargs = dict(_NAMED[name])
    except KeyError:
        raise ConfigError(f"unknown HRNet configuration {name!r}; choose one of {sorted(_NAMED)}") from None
    return hrnet_spec(kwargs.pop("width"), **kwargs)


class HighResolutionModule(nn.Module):
    """Parallel branches of residual blocks followed by exchange across resolutions.

    Fusion into branch ``i`` sums every branch ``j``: ``j > i`` through a 1x1 conv + norm and
    upsampling to branch ``i``'s size; ``j < i`` through ``i - j`` stride-2 3x3 conv + norm, with
    ReLU between consecutive ones but not after the last; then ReLU. With
    ``multi_scale_output=False`` only the highest-resolution branch is fused and returned
    (the official pose network's last module).
    """

    compile_region = True  # modules alike share one compiled graph under train.compile (hrseg.engine.speed.compile_regions)

    def __init__(self, in_channels: list[int], spec: StageSpec, norm: NormFactory, multi_scale_output: bool = True,
                 upsample: UpsampleMode = "nearest", align_corners: bool = False,
                 fusion: FusionConv = "dense") -> None:
        super().__init__()
        options = dict(spec.block_options)
        self.branches = nn.ModuleList(
            make_blocks(spec.block, in_channels[i], spec.num_channels[i], spec.num_blocks[i], norm, **options)
            for i in range(spec.num_branches)
        )
        channels = spec.out_channels()
        self.out_channels = channels if multi_scale_output else channels[:1]
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fuse_path(channels, j, i, norm, fusion) for j in range(len(channels)))
            for i in range(len(self.out_channels))
        ) if len(channels) > 1 else nn.ModuleList()
        self.relu = nn.ReLU(inplace=False)
        self.upsample = upsample
        self.align_corners = align_corners if upsample == "bilinear" else None

    @staticmethod
    def _fuse_path(channels: list[int], src: int, dst: int, norm: NormFactory,
                   fusion: FusionConv = "dense") -> nn.Module | None:
        if src == dst:
            return None
        if src > dst:  # lower resolution to higher: project, then upsample in forward
            return nn.Sequential(nn.Conv2d(channels[src], channels[dst], 1, bias=False), norm(channels[dst]))
        steps = dst - src
        return nn.Sequential(*(
            _conv3x3_norm(channels[src], channels[dst] if k == steps - 1 else channels[src], norm,
                          stride=2, relu=k < steps - 1, fusion=fusion)
            for k in range(steps)
        ))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if not self.fuse_layers:
            return xs
        fused = []
        for i, paths in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            y = xs[i]
            for j, path in enumerate(paths):
                if path is None:
                    continue
                z = path(xs[j])
                if j > i:
                    z = F.interpolate(z, size=size, mode=self.upsample, align_corners=self.align_corners)
                y = y + z
            fused.append(self.relu(y))
        return fused


def _conv3x3_norm(in_channels: int, out_channels: int, norm: NormFactory, stride: int = 1, relu: bool = True,
                  fusion: FusionConv = "dense") -> nn.Sequential:
    """3x3 conv + norm (+ ReLU); 'separable': depthwise 3x3 + norm, then 1x1 + norm (+ ReLU)."""
    if fusion == "dense":
        return conv_norm(in_channels, out_channels, norm, stride=stride, relu=relu)
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False),
        norm(in_channels), nn.Conv2d(in_channels, out_channels, 1, bias=False), norm(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _transition(in_channels: list[int], out_channels: list[int], norm: NormFactory,
                fusion: FusionConv = "dense") -> nn.ModuleList:
    """Official transition layer: adapt widths of existing branches, add new branches by stride-2
    convs from the lowest-resolution one. ``None`` entries pass a branch through unchanged."""
    layers: list[nn.Module | None] = []
    for i, out_c in enumerate(out_channels):
        if i < len(in_channels):
            layers.append(_conv3x3_norm(in_channels[i], out_c, norm, fusion=fusion)
                          if in_channels[i] != out_c else None)
        else:
            src = in_channels[-1]
            steps = i + 1 - len(in_channels)
            layers.append(nn.Sequential(*(
                _conv3x3_norm(src, out_c if k == steps - 1 else src, norm, stride=2, fusion=fusion)
                for k in range(steps)
            )))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """The HRNet backbone. ``forward`` returns the stream outputs at strides 4, 8, 16, 32.

    Args:
        spec: the architecture (see :func:`hrnet_spec` / :func:`named_spec`).
        norm: 'BN', 'SyncBN', 'GN' or a callable ``channels -> module``.
        upsample: fusion upsampling, 'nearest' (official pose and ImageNet code) or 'bilinear'
            (official segmentation code).
        align_corners: for bilinear fusion upsampling, as the segmentation configs set it.
        final_fusion: 'all' fuses every output of the last module; 'highest' fuses only the
            stride-4 stream (the official pose network, whose last module has no other outputs;
            ``forward`` then returns one tensor in the list).

    Any input size works: stream ``k`` has spatial size ``ceil(H / 2**(k + 2))`` because each
    stride-2 conv rounds up and upsampling targets the exact size of the stream it joins.
    """

    def __init__(self, spec: HRNetSpec, norm: str | NormFactory = "BN", upsample: UpsampleMode = "nearest",
                 align_corners: bool = False, final_fusion: Literal["all", "highest"] = "all",
                 in_channels: int = 3, init: Literal["official", "kaiming"] = "official") -> None:
        super().__init__()
        if init not in ("official", "kaiming"):
            raise ConfigError(f"unknown init {init!r}; choose 'official' or 'kaiming'")
        if upsample not in ("nearest", "bilinear"):
            raise ConfigError(f"unknown fusion upsampling {upsample!r}; choose 'nearest' or 'bilinear'")
        if spec.fusion not in ("dense", "separable"):
            raise ConfigError(f"unknown fusion convolution {spec.fusion!r}; choose 'dense' or 'separable'")
        if final_fusion not in ("all", "highest"):
            raise ConfigError(f"unknown final_fusion {final_fusion!r}; choose 'all' or 'highest'")
        self.spec = spec
        norm_layer = norm_factory(norm)
        stem = spec.stem_width
        self.conv1 = nn.Conv2d(in_channels, stem, 3, stride=2, padding=1, bias=False)
        self.bn1 = norm_layer(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, stride=2, padding=1, bias=False)
        self.bn2 = norm_layer(stem)
        self.relu = nn.ReLU(inplace=True)

        stage1 = spec.stages[0]
        self.layer1 = make_blocks(stage1.block, stem, stage1.num_channels[0], stage1.num_blocks[0], norm_layer,
                                  **dict(stage1.block_options))
        channels = stage1.out_channels()
        self._stage_names: list[tuple[str, str]] = []
        for n, stage in enumerate(spec.stages[1:], start=2):
            is_last = n == len(spec.stages)
            branch_in = [c for c in stage.num_channels]
            setattr(self, f"transition{n - 1}", _transition(channels, branch_in, norm_layer, spec.fusion))
            modules = []
            for m in range(stage.num_modules):
                multi = not (is_last and m == stage.num_modules - 1 and final_fusion == "highest")
                module = HighResolutionModule(branch_in, stage, norm_layer, multi, upsample, align_corners,
                                              spec.fusion)
                modules.append(module)
                branch_in = stage.out_channels()
            setattr(self, f"stage{n}", nn.Sequential(*modules))
            self._stage_names.append((f"transition{n - 1}", f"stage{n}"))
            channels = modules[-1].out_channels
        self.out_channels: list[int] = list(channels)
        self.out_strides: list[int] = [4 * 2 ** i for i in range(len(channels))]
        self.init_weights(init)

    def init_weights(self, init: str = "official") -> None:
        """Conv weights N(0, 0.001) as the official code ('official'), or He-normal for ReLU
        ('kaiming': with Adam, much faster progress in short trainings from scratch, since the
        update size is not tiny relative to the weights); norm weight 1 and bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if init == "official":
                    nn.init.normal_(m.weight, std=0.001)
                else:
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.SyncBatchNorm, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for transition_name, stage_name in self._stage_names:
            transition: nn.ModuleList = getattr(self, transition_name)
            xs = [
                xs[i] if layer is None else layer(xs[min(i, len(xs) - 1)])
                for i, layer in enumerate(transition)
            ]
            xs = getattr(self, stage_name)(xs)
        return xs


def build_hrnet(name: str, **overrides: Any) -> HRNet:
    """A named backbone (see :func:`named_specs`); ``overrides`` go to :class:`HRNet`."""
    spec = overrides.pop("spec", None) or named_spec(name)
    return HRNet(spec, **overrides)


for _name in named_specs():
    register_model(_name, lambda _n=_name, **kw: build_hrnet(_n, **kw), ModelInfo("backbone", (224, 224), "imagenet"))
