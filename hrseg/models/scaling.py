"""EfficientNet's compound scaling for HRNet, the scaled pose family and a light MBConv network.

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks" (ICML 2019):
depth, width and input resolution grow together, ``d = alpha**phi``, ``w = beta**phi``,
``r = gamma**phi``, with ``alpha * beta**2 * gamma**2 ~= 2`` (each >= 1) so that every step of the
compound factor ``phi`` about doubles the multiply-adds (a convolution's cost grows linearly with
depth and quadratically with width and with resolution).

What each factor means for HRNet (:class:`ScalableHRNet` is the base the rule starts from):

* depth ``d``: the blocks a branch passes through in each stage (modules x blocks per branch) are
  multiplied by ``d``. The blocks per branch grow first, one at a time; a stage gets more modules
  (more fusions) only when its blocks per branch would pass ``max_blocks`` (8), and the blocks per
  branch are then ``round(modules * blocks * d / new_modules)`` (:func:`scale_depth`).
* width ``w``: the base width ``C`` (branch widths C, 2C, 4C, 8C), the stem and stage 1 are
  multiplied by ``w`` and rounded to a multiple of ``width_divisor``.
* resolution ``r``: the input height is multiplied by ``r`` and rounded to a multiple of
  ``size_divisor`` (16 keeps pose's 4:3 crops and stride-4 heatmaps exact); the width keeps the
  base aspect ratio.

:func:`scaled_family` registers ``pose_effhrnet_b0`` ... ``_b4`` from :data:`EFF_COEFFICIENTS`
(see ``tools/search_scaling.py``, the grid search on the mini-split, and the README) and
:data:`EFF_BASE`. Each model records its input size in ``model.input_size`` (H, W).

``pose_mbhrnet_lite`` is a light network built from MBConv + squeeze-and-excitation blocks
(:mod:`hrseg.models.mbconv`) with depthwise-separable fusions; ``pose_effhrnetv2_s`` is the winner of
the training-aware search (:mod:`hrseg.experiments.effnetv2_search`), Fused-MBConv in every stage.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from hrseg.errors import ConfigError
from hrseg.models.backbones.hrnet import HRNet, HRNetSpec, StageSpec
from hrseg.models.pose import TopDownPoseModel
from hrseg.models.registry import ModelInfo, register_model


@dataclass(frozen=True)
class ScalingCoefficients:
    """``alpha`` (depth), ``beta`` (width), ``gamma`` (resolution) of one compound step."""

    alpha: float
    beta: float
    gamma: float

    @property
    def flops_factor(self) -> float:
        """The multiply-adds of one step of ``phi``: ``alpha * beta**2 * gamma**2``."""
        return self.alpha * self.beta ** 2 * self.gamma ** 2

    def validate(self, target: float = 2.0, tolerance: float = 0.1) -> "ScalingCoefficients":
        """Raise :class:`ConfigError` unless each coefficient is >= 1 and the step's factor is
        within ``tolerance`` of ``target``."""
        if min(self.alpha, self.beta, self.gamma) < 1.0:
            raise ConfigError(f"scaling coefficients must each be >= 1, got {self}")
        if abs(self.flops_factor - target) > tolerance:
            raise ConfigError(f"alpha * beta^2 * gamma^2 = {self.flops_factor:.3f} for {self}; "
                              f"the compound rule needs {target} +- {tolerance}")
        return self

    def multipliers(self, phi: float) -> tuple[float, float, float]:
        """Depth, width and resolution multipliers at compound factor ``phi``."""
        return self.alpha ** phi, self.beta ** phi, self.gamma ** phi


@dataclass(frozen=True)
class ScalableHRNet:
    """The base network of the rule: an HRNet layout with branch widths C, 2C, 4C, 8C, and its
    input size.

    ``modules[s]`` and ``blocks[s]`` are the modules of stage ``s + 2`` and the blocks per branch in
    each of them; stage 1 is ``stage1_blocks`` Bottleneck blocks of ``stage1_planes`` planes.
    """

    width: int = 16
    modules: tuple[int, int, int] = (1, 1, 1)
    blocks: tuple[int, int, int] = (4, 4, 4)
    stage1_blocks: int = 1
    stage1_planes: int = 32
    stem_width: int = 32
    input_size: tuple[int, int] = (256, 192)  # H, W
    block: str = "BASIC"
    block_options: tuple[tuple[str, Any], ...] = ()
    fusion: str = "dense"
    width_divisor: int = 1
    size_divisor: int = 16
    max_blocks: int = 8
    # per stage (2, 3, 4) (block type, options) overriding ``block`` / ``block_options``; empty = none
    # (the training-aware search of hrseg.experiments.effnetv2_search chooses one per stage)
    stage_blocks: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def stage_block(self, index: int) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """(block type, sorted options) of stage ``index + 2``."""
        if self.stage_blocks:
            block, options = self.stage_blocks[index]
            return block, tuple(sorted(options))
        return self.block, tuple(sorted(self.block_options))

    def spec(self) -> HRNetSpec:
        if self.stage_blocks and len(self.stage_blocks) != len(self.modules):
            raise ConfigError(f"stage_blocks: expected one (block, options) per stage 2-4, got {self.stage_blocks!r}")
        stages = [StageSpec(1, (self.stage1_blocks,), (self.stage1_planes,), block="BOTTLENECK")]
        for i, (num_modules, num_blocks) in enumerate(zip(self.modules, self.blocks)):
            branches = i + 2
            block, options = self.stage_block(i)
            stages.append(StageSpec(num_modules, (num_blocks,) * branches,
                                    tuple(self.width * 2 ** b for b in range(branches)),
                                    block=block, block_options=options))
        return HRNetSpec(tuple(stages), self.stem_width, self.fusion)  # type: ignore[arg-type]


def round_to(value: float, divisor: int, minimum: int | None = None) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``minimum``, default
    ``divisor``); halves round up."""
    rounded = int(math.floor(value / divisor + 0.5)) * divisor
    return max(minimum if minimum is not None else divisor, rounded)


def scale_depth(modules: int, blocks: int, depth: float, max_blocks: int) -> tuple[int, int]:
    """(modules, blocks per branch) of a stage whose depth (modules x blocks) grows by ``depth``.

    The blocks per branch grow first; a stage gets more modules (more fusions) only when its
    blocks per branch would exceed ``max_blocks``.
    """
    total = modules * blocks * depth
    new_modules = max(modules, math.ceil(total / max_blocks - 1e-9))
    return new_modules, round_to(total / new_modules, 1)


def scale_network(base: ScalableHRNet, coefficients: ScalingCoefficients, phi: float) -> ScalableHRNet:
    """The base network scaled by the compound rule at ``phi`` (see the module docstring)."""
    if phi < 0:
        raise ConfigError(f"compound factor phi must be >= 0, got {phi}")
    d, w, r = coefficients.multipliers(phi)
    depths = [scale_depth(m, b, d, base.max_blocks) for m, b in zip(base.modules, base.blocks)]
    height = round_to(base.input_size[0] * r, base.size_divisor)
    return replace(
        base,
        width=round_to(base.width * w, base.width_divisor),
        modules=tuple(m for m, _ in depths),
        blocks=tuple(b for _, b in depths),
        stage1_planes=round_to(base.stage1_planes * w, base.width_divisor),
        stem_width=round_to(base.stem_width * w, base.width_divisor),
        input_size=(height, round_to(height * base.input_size[1] / base.input_size[0], 1)),
    )


# -- the named models ------------------------------------------------------------------------------
# The base of the scaled family (B0): HRNet-W16 with one module per stage of 4 BasicBlocks per
# branch, a narrow stem and stage 1, at the COCO crop size 256x192 (about 0.67 GFLOPs).
EFF_BASE = ScalableHRNet(width=16, modules=(1, 1, 1), blocks=(4, 4, 4), stage1_blocks=1, stage1_planes=32,
                         stem_width=32, input_size=(256, 192))
# The coefficients the grid search of tools/search_scaling.py chose on the synthetic mini-split
# (alpha 1.0, beta 1.1, gamma 1.286 = sqrt(2 / (alpha beta^2)); docs/efficientnet.md has its table).
# EfficientNet's own were alpha 1.2, beta 1.1, gamma 1.15.
EFF_COEFFICIENTS = ScalingCoefficients(alpha=1.0, beta=1.1, gamma=1.286)
EFF_PHIS = (0, 1, 2, 3, 4)

# A light network of MBConv + SE blocks (expansion 1, 3x3 depthwise, SE ratio 1/4, SiLU) with
# depthwise-separable fusions and transitions; the stage layout of Lite-HRNet-18 (2/4/2 modules
# of 2 blocks per branch).
MB_LITE = ScalableHRNet(width=32, modules=(2, 4, 2), blocks=(2, 2, 2), stage1_blocks=1, stage1_planes=16,
                        stem_width=32, input_size=(256, 192), block="MBCONV",
                        block_options=(("activation", "silu"), ("expand_ratio", 1.0), ("kernel_size", 3),
                                       ("se_ratio", 0.25)),
                        fusion="separable")


# The base layout of the training-aware search (configs/effnet/search_effnetv2.py): C = 16, one
# module of 2 blocks per branch in stages 2-4, a 32-wide stem and stage 1 of one Bottleneck.
EFFV2_SEARCH_BASE = ScalableHRNet(width=16, modules=(1, 1, 1), blocks=(2, 2, 2), stage1_blocks=1, stage1_planes=32,
                                  stem_width=32, input_size=(256, 192))
# pose_effhrnetv2_s: the winner of that search (hrseg.experiments.effnetv2_search: 24 candidates at 6 epochs,
# the best 7 retrained 18 epochs; its tables are in docs/efficientnet.md), "F3e4x3-F5e6x2-F3e4x2": stage 2
# three Fused-MBConv 3x3 expansion 4 per branch, stage 3 two Fused-MBConv 5x5 expansion 6, stage 4 two
# Fused-MBConv 3x3 expansion 4, none with SE (EfficientNetV2's Fused-MBConv); at 256x192.
EFFV2_S = replace(
    EFFV2_SEARCH_BASE, blocks=(3, 2, 2),
    stage_blocks=(("FUSED_MBCONV", (("expand_ratio", 4.0), ("kernel_size", 3), ("se_ratio", 0.0))),
                  ("FUSED_MBCONV", (("expand_ratio", 6.0), ("kernel_size", 5), ("se_ratio", 0.0))),
                  ("FUSED_MBCONV", (("expand_ratio", 4.0), ("kernel_size", 3), ("se_ratio", 0.0)))),
)


def scaled_family(base: ScalableHRNet = EFF_BASE, coefficients: ScalingCoefficients = EFF_COEFFICIENTS,
                  phis: tuple[float, ...] = EFF_PHIS) -> dict[str, ScalableHRNet]:
    """``{'b0': network, 'b1': ...}``: the base scaled at each ``phi``."""
    return {f"b{i}": scale_network(base, coefficients, phi) for i, phi in enumerate(phis)}


def build_pose_network(net: ScalableHRNet, num_joints: int = 17, maps_per_joint: int = 1,
                       **backbone_options: Any) -> TopDownPoseModel:
    """A top-down pose model (HRNet V1 + heatmap head) on ``net``; ``model.input_size`` is
    ``net.input_size`` (H, W), the crop size it is meant to run at."""
    options = dict(upsample="nearest", final_fusion="highest") | backbone_options
    model = TopDownPoseModel(HRNet(net.spec(), **options), num_joints, maps_per_joint)
    model.input_size = tuple(net.input_size)
    return model


def _factory(net: ScalableHRNet):
    def build(num_joints: int = 17, maps_per_joint: int = 1, **backbone_options: Any) -> TopDownPoseModel:
        return build_pose_network(net, num_joints, maps_per_joint, **backbone_options)

    build.__doc__ = f"Pose model on {net}"
    return build


def network_from_options(width: int, modules: Any, blocks: Any, stage1_blocks: int = 1, stage1_planes: int = 32,
                         stem_width: int = 32, block: str = "BASIC", block_options: Any = None,
                         fusion: str = "dense", input_size: Any = (256, 192),
                         stage_blocks: Any = None) -> ScalableHRNet:
    """A :class:`ScalableHRNet` from plain config values (lists or tuples; ``modules`` and
    ``blocks`` may be one number for all three stages, ``block_options`` a dict, ``stage_blocks``
    three dicts ``{"block": "FUSED_MBCONV", "expand_ratio": 4, ...}``, one per stage 2-4)."""
    per_stage: tuple = ()
    if stage_blocks:
        if len(stage_blocks) != 3 or not all(isinstance(b, dict) and "block" in b for b in stage_blocks):
            raise ConfigError(f"model.stage_blocks: expected three dicts with a 'block' key, got {stage_blocks!r}")
        per_stage = tuple((str(b["block"]), tuple(sorted((k, v) for k, v in b.items() if k != "block")))
                          for b in stage_blocks)
    def triple(name: str, value: Any) -> tuple[int, int, int]:
        values = (value,) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
        if len(values) != 3 or min(values) < 1:
            raise ConfigError(f"model.{name}: expected one or three integers >= 1, got {value!r}")
        return values  # type: ignore[return-value]

    return ScalableHRNet(width=int(width), modules=triple("modules", modules), blocks=triple("blocks", blocks),
                         stage1_blocks=int(stage1_blocks), stage1_planes=int(stage1_planes),
                         stem_width=int(stem_width), block=str(block),
                         block_options=tuple(sorted(dict(block_options or {}).items())), fusion=fusion,
                         input_size=(int(input_size[0]), int(input_size[1])), stage_blocks=per_stage)


def build_scalable_pose(num_joints: int = 17, *, width: int = 16, modules: Any = 1, blocks: Any = 4,
                        stage1_blocks: int = 1, stage1_planes: int = 32, stem_width: int = 32,
                        block: str = "BASIC", block_options: Any = None, fusion: str = "dense",
                        input_size: Any = (256, 192), stage_blocks: Any = None, maps_per_joint: int = 1,
                        **backbone_options: Any) -> TopDownPoseModel:
    """``pose_scalable_hrnet``: a pose model of any :class:`ScalableHRNet` layout given in the
    config, e.g. ``model = dict(name="pose_scalable_hrnet", width=18, modules=1, blocks=5)``
    (what ``tools/search_scaling.py`` trains); the defaults are the layout of ``pose_effhrnet_b0``."""
    net = network_from_options(width, modules, blocks, stage1_blocks, stage1_planes, stem_width, block,
                               block_options, fusion, input_size, stage_blocks)
    return build_pose_network(net, num_joints, maps_per_joint, **backbone_options)


register_model("pose_scalable_hrnet", build_scalable_pose, ModelInfo("pose", (256, 192), "coco_person"))

NAMED_NETWORKS: dict[str, ScalableHRNet] = {
    **{f"pose_effhrnet_{key}": net for key, net in scaled_family().items()},
    "pose_mbhrnet_lite": MB_LITE,
    "pose_effhrnetv2_s": EFFV2_S,
}
for _name, _net in NAMED_NETWORKS.items():
    register_model(_name, _factory(_net), ModelInfo("pose", tuple(_net.input_size), "coco_person"))
