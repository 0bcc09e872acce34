"""Progressive learning with adaptive regularization (EfficientNetV2, Tan & Le, ICML 2021).

Training is split into ``num_stages`` stages of equal length. Stage ``i`` of ``M`` trains at an
input size and a regularization strength interpolated linearly between the first stage's and the
last stage's values, ``v_i = v_0 + (v_e - v_0) * i / (M - 1)``: small images with weak
regularization first, the full size with the strongest regularization last. The regularizers are

* ``dropout``: feature dropout (channel-wise) on the input of the model's head;
* ``drop_path``: stochastic depth of the blocks that have it (MBConv, Fused-MBConv);
* ``randaugment``: the magnitude (0-30, as RandAugment counts it) of the photometric RandAugment
  of :mod:`hrseg.data.augment` on the uint8 crops;
* ``mixup``: the alpha of Mixup's Beta(alpha, alpha) (:mod:`hrseg.data.augment`).

Everything comes from the ``progressive`` section of a task config (:data:`PROGRESSIVE_DEFAULTS`,
off by default); :class:`ProgressiveHook` is the Trainer's ``epoch_hook`` that applies a stage at
the start of each epoch through the datasets' ``set_stage`` and the model's
``set_regularization``; the task's ``train_step`` reads ``hook.mixup_alpha``. This module imports
no model, dataset or task module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from hrseg.errors import ConfigError

# The config section (also its schema). Sizes are (H, W).
PROGRESSIVE_DEFAULTS: dict[str, Any] = dict(
    enabled=False,
    num_stages=3,
    sizes=None,          # one (H, W) per stage; default: from min_scale x the final size up to it
    min_scale=0.5,       # the first stage's size relative to the final (training) input size
    size_divisor=16,     # every stage's H is a multiple (16 keeps 4:3 pose crops and stride-4 heatmaps exact)
    dropout=[0.0, 0.0],  # [first stage, last stage]
    drop_path=[0.0, 0.0],
    randaugment=[0.0, 0.0],  # magnitude 0-30; 0 = off
    randaugment_ops=2,
    mixup=[0.0, 0.0],    # Beta(alpha, alpha); 0 = off
)


@dataclass(frozen=True)
class ProgressiveStage:
    """What one stage trains with (sizes are (H, W); ``heatmap_size`` is None without a stride)."""

    index: int
    start_epoch: int
    end_epoch: int  # exclusive
    image_size: tuple[int, int]
    heatmap_size: tuple[int, int] | None
    dropout: float
    drop_path: float
    randaugment: float
    randaugment_ops: int
    mixup: float

    def describe(self) -> str:
        hm = f", heatmaps {self.heatmap_size[0]}x{self.heatmap_size[1]}" if self.heatmap_size else ""
        return (f"progressive stage {self.index + 1} (epochs {self.start_epoch + 1}-{self.end_epoch}): "
                f"input {self.image_size[0]}x{self.image_size[1]}{hm}, dropout {self.dropout:.3g}, "
                f"drop_path {self.drop_path:.3g}, RandAugment {self.randaugment:.3g}, mixup {self.mixup:.3g}")


class ProgressiveSchedule:
    """The stages of a run; :meth:`stage_at` maps a (0-based) epoch to its stage."""

    def __init__(self, stages: Sequence[ProgressiveStage]) -> None:
        self.stages = list(stages)

    def stage_at(self, epoch: int) -> ProgressiveStage:
        for stage in self.stages:
            if stage.start_epoch <= epoch < stage.end_epoch:
                return stage
        return self.stages[-1] if epoch >= self.stages[-1].end_epoch else self.stages[0]

    def __len__(self) -> int:
        return len(self.stages)


def _pair(cfg: Mapping[str, Any], key: str, low: float, high: float) -> tuple[float, float]:
    value = cfg[key]
    if isinstance(value, (int, float)):
        value = [value, value]
    if not isinstance(value, Sequence) or len(value) != 2 or not all(isinstance(v, (int, float)) for v in value):
        raise ConfigError(f"progressive.{key}: expected [first, last] numbers, got {value!r}")
    if not all(low <= v <= high for v in value):
        raise ConfigError(f"progressive.{key}: values must lie in [{low}, {high}], got {value!r}")
    return float(value[0]), float(value[1])


def interpolate(first: float, last: float, index: int, num_stages: int) -> float:
    """Stage ``index``'s value: linear from ``first`` (stage 0) to ``last`` (stage M-1)."""
    return first if num_stages == 1 else first + (last - first) * index / (num_stages - 1)


def stage_sizes(final_size: Sequence[int], num_stages: int, min_scale: float, divisor: int) -> list[tuple[int, int]]:
    """(H, W) per stage from ``min_scale * final_size`` to ``final_size``: H on multiples of
    ``divisor`` (the last stage is the final size itself), W keeping the final aspect ratio."""
    height, width = int(final_size[0]), int(final_size[1])
    sizes = []
    for i in range(num_stages):
        h = interpolate(height * min_scale, height, i, num_stages)
        h = height if i == num_stages - 1 else max(divisor, int(math.floor(h / divisor + 0.5)) * divisor)
        sizes.append((h, int(round(h * width / height))))
    return sizes


def build_schedule(cfg: Mapping[str, Any], final_size: Sequence[int], max_epochs: int,
                   heatmap_stride: int | None = None) -> ProgressiveSchedule | None:
    """The schedule of a ``progressive`` config section (None when it is off).

    ``final_size`` is the run's (H, W) training size; ``heatmap_stride`` (4 for pose) adds each
    stage's heatmap size and requires the image sizes to be multiples of it.
    """
    cfg = {**PROGRESSIVE_DEFAULTS, **dict(cfg or {})}
    unknown = set(cfg) - set(PROGRESSIVE_DEFAULTS)
    if unknown:
        raise ConfigError(f"progressive: unknown keys {sorted(unknown)}; known: {sorted(PROGRESSIVE_DEFAULTS)}")
    if not cfg["enabled"]:
        return None
    num_stages = cfg["num_stages"]
    if not isinstance(num_stages, int) or num_stages < 1:
        raise ConfigError(f"progressive.num_stages: expected an integer >= 1, got {num_stages!r}")
    if max_epochs < num_stages:
        raise ConfigError(f"progressive.num_stages: {num_stages} stages need at least as many epochs "
                          f"(train.max_epochs is {max_epochs})")
    if cfg["sizes"] is not None:
        sizes = [tuple(int(v) for v in s) for s in cfg["sizes"]]
        if len(sizes) != num_stages or any(len(s) != 2 or min(s) < 1 for s in sizes):
            raise ConfigError(f"progressive.sizes: expected {num_stages} (H, W) pairs, got {cfg['sizes']!r}")
    else:
        if not 0 < float(cfg["min_scale"]) <= 1:
            raise ConfigError(f"progressive.min_scale: expected a number in (0, 1], got {cfg['min_scale']!r}")
        sizes = stage_sizes(final_size, num_stages, float(cfg["min_scale"]), int(cfg["size_divisor"]))
    if heatmap_stride:
        bad = [s for s in sizes if s[0] % heatmap_stride or s[1] % heatmap_stride]
        if bad:
            raise ConfigError(f"progressive: stage sizes {bad} are not multiples of the heatmap stride "
                              f"{heatmap_stride}; use sizes whose H is a multiple of {4 * heatmap_stride}")
    dropout, drop_path = _pair(cfg, "dropout", 0.0, 0.95), _pair(cfg, "drop_path", 0.0, 0.95)
    randaugment, mixup = _pair(cfg, "randaugment", 0.0, 30.0), _pair(cfg, "mixup", 0.0, 100.0)
    ops = cfg["randaugment_ops"]
    if not isinstance(ops, int) or ops < 0:
        raise ConfigError(f"progressive.randaugment_ops: expected an integer >= 0, got {ops!r}")
    bounds = [round(max_epochs * i / num_stages) for i in range(num_stages + 1)]
    stages = []
    for i, size in enumerate(sizes):
        stages.append(ProgressiveStage(
            index=i, start_epoch=bounds[i], end_epoch=bounds[i + 1], image_size=size,
            heatmap_size=(size[0] // heatmap_stride, size[1] // heatmap_stride) if heatmap_stride else None,
            dropout=interpolate(*dropout, i, num_stages), drop_path=interpolate(*drop_path, i, num_stages),
            randaugment=interpolate(*randaugment, i, num_stages), randaugment_ops=ops,
            mixup=interpolate(*mixup, i, num_stages),
        ))
    return ProgressiveSchedule(stages)


# -- the Trainer hook ------------------------------------------------------------------------------
class ProgressiveHook:
    """``Trainer(..., epoch_hook=hook)``: at the start of each epoch, find the epoch's stage and,
    when it changes, apply it through what the data and the model expose (the engine knows no
    dataset or model class):

    * every dataset in ``datasets``: ``set_stage(image_size, randaugment=..., randaugment_ops=...)``
      (sizes (H, W); the dataset derives the rest, e.g. pose heatmaps and sigma);
    * the model: ``set_regularization(dropout=..., drop_path=...)``
      (:class:`hrseg.models.regularization.StageRegularization`);
    * a log line.

    The task's ``train_step`` reads :attr:`mixup_alpha` and draws from :attr:`generator`.
    """

    def __init__(self, schedule: ProgressiveSchedule, datasets: Sequence[Any], seed: int = 0) -> None:
        self.schedule = schedule
        self.datasets = list(datasets)
        for dataset in self.datasets:
            if not callable(getattr(dataset, "set_stage", None)):
                raise ConfigError(f"progressive learning needs datasets with a set_stage method; "
                                  f"{type(dataset).__name__} has none")
        self.stage: ProgressiveStage | None = None
        self.generator = torch.Generator().manual_seed(int(seed))

    @property
    def mixup_alpha(self) -> float:
        """The current stage's Mixup alpha (0 before the first epoch)."""
        return self.stage.mixup if self.stage is not None else 0.0

    def __call__(self, epoch: int, trainer: Any) -> None:
        stage = self.schedule.stage_at(epoch)
        # Reseeded every epoch, so that a resumed run draws the same mixups.
        self.generator.manual_seed(int(np.random.SeedSequence([int(trainer.seed), epoch]).generate_state(1)[0]))
        if stage == self.stage:
            return
        self.stage = stage
        for dataset in self.datasets:
            dataset.set_stage(stage.image_size, randaugment=stage.randaugment,
                              randaugment_ops=stage.randaugment_ops)
        set_regularization = getattr(trainer.model, "set_regularization", None)
        if set_regularization is not None:
            set_regularization(dropout=stage.dropout, drop_path=stage.drop_path)
        elif stage.dropout > 0 or stage.drop_path > 0:
            raise ConfigError(f"progressive.dropout / drop_path: {type(trainer.model).__name__} exposes no "
                              "set_regularization; set both to [0, 0]")
        trainer.logger.info(stage.describe())
