"""Progressive learning with adaptive regularization (EfficientNetV2, Tan & Le, ICML 2021).

Training is split into ``num_stages`` stages of equal length. Stage ``i`` of ``M`` trains at an
input size and a regularization strength interpolated linearly between the first stage's and the
last stage's values, ``v_i = v_0 + (v_e - v_0) * i / (M - 1)``: small images with weak
regularization first, the full size with the strongest regularization last. The regularizers are

* ``dropout``: feature dropout (channel-wise, ``dropout2d``) on the input of the model's head;
* ``drop_path``: stochastic depth of the MBConv blocks (:mod:`hrseg.models.mbconv`), if any;
* ``randaugment``: the magnitude (0-30, as RandAugment counts it) of :class:`RandAugment`, a
  photometric RandAugment on the uint8 crops (geometric augmentation is the task's own, because
  it must move keypoints and masks with the pixels);
* ``mixup``: the alpha of Mixup's Beta(alpha, alpha); for keypoints the heatmap targets and their
  weights are mixed with the images (:func:`mixup_heatmaps`).

Everything comes from the ``progressive`` section of a task config (:data:`PROGRESSIVE_DEFAULTS`,
off by default); :class:`ProgressiveHook` is the Trainer's ``epoch_hook`` that applies a stage at
the start of each epoch, and the task's ``train_step`` reads ``hook.stage``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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


# -- RandAugment (photometric) ----------------------------------------------------------------------
class RandAugment:
    """RandAugment (Cubuk et al., 2020) restricted to its photometric operations, so that the
    keypoints and masks of a crop stay where they are: ``num_ops`` operations drawn uniformly
    from Identity, AutoContrast, Equalize, Brightness, Color, Contrast, Sharpness, Posterize and
    Solarize, all at ``magnitude`` (0-30, the paper's scale; the strengths at 30 are those of
    torchvision's ``RandAugment``: enhance factors 1 +- 0.9, posterize to 4 bits, solarize at 0).

    Called as ``augment(image, rng)`` on a uint8 RGB (H, W, 3) array with a numpy Generator, so
    that a sample's draws follow the dataset's seeding; the operations are torchvision's.
    """

    OPS = ("Identity", "AutoContrast", "Equalize", "Brightness", "Color", "Contrast", "Sharpness",
           "Posterize", "Solarize")
    MAX_MAGNITUDE = 30.0

    def __init__(self, magnitude: float, num_ops: int = 2) -> None:
        if not 0 <= magnitude <= self.MAX_MAGNITUDE or num_ops < 0:
            raise ConfigError(f"RandAugment needs a magnitude in [0, 30] and num_ops >= 0, got {magnitude}, {num_ops}")
        self.magnitude, self.num_ops = float(magnitude), int(num_ops)

    def __repr__(self) -> str:
        return f"RandAugment(magnitude={self.magnitude:g}, num_ops={self.num_ops})"

    def apply(self, op: str, image: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
        """One operation on a uint8 (3, H, W) tensor at this magnitude."""
        from torchvision.transforms.v2 import functional as TF

        level = self.magnitude / self.MAX_MAGNITUDE
        if op == "Identity" or (level == 0 and op != "AutoContrast" and op != "Equalize"):
            return image
        if op == "AutoContrast":
            return TF.autocontrast(image)
        if op == "Equalize":
            return TF.equalize(image)
        if op in ("Brightness", "Color", "Contrast", "Sharpness"):
            factor = 1.0 + sign * 0.9 * level
            fn = {"Brightness": TF.adjust_brightness, "Color": TF.adjust_saturation,
                  "Contrast": TF.adjust_contrast, "Sharpness": TF.adjust_sharpness}[op]
            return fn(image, factor)
        if op == "Posterize":
            return TF.posterize(image, int(round(8 - 4 * level)))
        if op == "Solarize":
            return TF.solarize(image, 255.0 * (1.0 - level))
        raise ConfigError(f"unknown RandAugment operation {op!r}; choose one of {self.OPS}")

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.magnitude == 0 or self.num_ops == 0:
            return image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"RandAugment expects a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        for _ in range(self.num_ops):
            op = self.OPS[int(rng.integers(len(self.OPS)))]
            x = self.apply(op, x, sign=-1.0 if rng.random() < 0.5 else 1.0)
        return np.ascontiguousarray(x.permute(1, 2, 0).numpy())


# -- Mixup -----------------------------------------------------------------------------------------
def sample_mixup(batch_size: int, alpha: float, generator: torch.Generator | None = None
                 ) -> tuple[float, torch.Tensor]:
    """Mixup's weight ``lam ~ Beta(alpha, alpha)`` and each sample's partner (a permutation),
    drawn from ``generator`` (default: torch's global generator); alpha 0 means no mixing."""
    if alpha <= 0:
        return 1.0, torch.arange(batch_size)
    # Beta(a, a) as X / (X + Y), X and Y ~ Gamma(a), with numpy seeded from the generator
    # (torch's Beta sampler takes no generator).
    rng = np.random.default_rng(int(torch.randint(2 ** 31 - 1, (1,), generator=generator)))
    x, y = rng.gamma(alpha), rng.gamma(alpha)
    lam = float(x / (x + y)) if x + y > 0 else 0.5
    return lam, torch.randperm(batch_size, generator=generator)


def mixup_images(images: torch.Tensor, alpha: float, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, float, torch.Tensor]:
    """``lam x_i + (1 - lam) x_perm(i)``; returns the mixed batch, ``lam`` and the permutation
    (for the targets). Alpha 0 returns the batch itself with ``lam = 1``."""
    lam, perm = sample_mixup(images.shape[0], alpha, generator)
    if lam == 1.0:
        return images, 1.0, perm.to(images.device)
    perm = perm.to(images.device)
    return lam * images + (1.0 - lam) * images[perm], lam, perm


def mixup_heatmaps(images: torch.Tensor, targets: torch.Tensor, target_weights: torch.Tensor, alpha: float,
                   generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mixup for keypoint heatmaps: the images, the heatmap targets and their joint weights are
    mixed with the same ``lam`` and partners (a joint labelled in one image only keeps that
    image's share of the weight). Returns the mixed images, targets, weights and ``lam``."""
    mixed, lam, perm = mixup_images(images, alpha, generator)
    if lam == 1.0:
        return images, targets, target_weights, 1.0
    return (mixed, lam * targets + (1.0 - lam) * targets[perm],
            lam * target_weights + (1.0 - lam) * target_weights[perm], lam)


def mixed_losses(criterion: Callable[[torch.Tensor, torch.Tensor], Mapping[str, torch.Tensor]],
                 output: torch.Tensor, labels: torch.Tensor, lam: float, perm: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
    """Mixup for hard labels (segmentation): ``lam * loss(labels) + (1 - lam) * loss(labels[perm])``
    for a criterion that returns a dict of loss terms."""
    first = dict(criterion(output, labels))
    if lam == 1.0:
        return first
    second = criterion(output, labels[perm])
    return {k: lam * v + (1.0 - lam) * second[k] for k, v in first.items()}


# -- dropout and stochastic depth ------------------------------------------------------------------
class _FeatureDropout:
    """A forward pre-hook: channel dropout on the input of a module while training."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self.rate <= 0 or not module.training or not args or not isinstance(args[0], torch.Tensor):
            return None
        x = args[0]
        x = F.dropout2d(x, self.rate, True) if x.dim() == 4 else F.dropout(x, self.rate, True)
        return (x,) + tuple(args[1:])


def set_feature_dropout(model: nn.Module, rate: float, module_name: str = "head") -> None:
    """Dropout of rate ``rate`` on the input of ``model.<module_name>`` while training (added as
    a forward pre-hook on first use, so the state dict does not change)."""
    target = model.get_submodule(module_name) if module_name else model
    hook = getattr(target, "_hrseg_feature_dropout", None)
    if hook is None:
        hook = _FeatureDropout(rate)
        target.register_forward_pre_hook(hook)
        target._hrseg_feature_dropout = hook  # type: ignore[attr-defined]
    hook.rate = float(rate)


def set_drop_path(model: nn.Module, rate: float) -> int:
    """Stochastic-depth rate of every MBConv block; returns how many blocks were set."""
    from hrseg.models.mbconv import MBConv

    blocks = [m for m in model.modules() if isinstance(m, MBConv)]
    for block in blocks:
        block.drop_path_rate = float(rate)
    return len(blocks)


# -- what a stage changes in the tasks' datasets -----------------------------------------------------
def apply_pose_stage(dataset: Any, stage: ProgressiveStage, sigma: float, final_heatmap_height: int) -> None:
    """Set a top-down pose dataset (:class:`hrseg.data.pose.dataset.CocoPoseDataset`) to a stage:
    crop and heatmap sizes (its sizes are (W, H)), the Gaussian's sigma scaled with the heatmap
    (so that it covers the same part of the body) and the stage's RandAugment."""
    if stage.heatmap_size is None:
        raise ConfigError("pose progressive learning needs heatmap sizes: build the schedule with heatmap_stride=4")
    h, w = stage.image_size
    dataset.image_size = (w, h)
    dataset.heatmap_size = (stage.heatmap_size[1], stage.heatmap_size[0])
    dataset.sigma = sigma * stage.heatmap_size[0] / final_heatmap_height
    dataset.randaugment = RandAugment(stage.randaugment, stage.randaugment_ops) if stage.randaugment > 0 else None


def apply_seg_stage(dataset: Any, stage: ProgressiveStage) -> None:
    """Set a segmentation dataset whose ``transform`` random-crops (``SegTrainTransform``) to a
    stage: the crop size and the stage's RandAugment (``transform.randaugment``)."""
    dataset.transform.crop_size = tuple(stage.image_size)
    dataset.transform.randaugment = (RandAugment(stage.randaugment, stage.randaugment_ops)
                                     if stage.randaugment > 0 else None)


# -- the Trainer hook ------------------------------------------------------------------------------
class ProgressiveHook:
    """``Trainer(..., epoch_hook=hook)``: at the start of each epoch, find the epoch's stage and,
    when it changes, apply it: ``apply_data(stage)`` (the task sets its datasets' sizes and
    augmentation), the model's feature dropout and drop-path rates, and a log line.
    The task's ``train_step`` reads :attr:`stage` (e.g. for the mixup alpha)."""

    def __init__(self, schedule: ProgressiveSchedule, apply_data: Callable[[ProgressiveStage], None],
                 dropout_module: str = "head", seed: int = 0) -> None:
        self.schedule, self.apply_data, self.dropout_module = schedule, apply_data, dropout_module
        self.stage: ProgressiveStage | None = None
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, epoch: int, trainer: Any) -> None:
        stage = self.schedule.stage_at(epoch)
        # Reseeded every epoch, so that a resumed run draws the same mixups.
        self.generator.manual_seed(int(np.random.SeedSequence([int(trainer.seed), epoch]).generate_state(1)[0]))
        if stage == self.stage:
            return
        self.stage = stage
        self.apply_data(stage)
        set_feature_dropout(trainer.model, stage.dropout, self.dropout_module)
        set_drop_path(trainer.model, stage.drop_path)
        trainer.logger.info(stage.describe())
