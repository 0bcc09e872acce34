"""Optimizers and learning-rate schedules from config dicts.

Optimizer config, e.g. the official pose default ``dict(type='Adam', lr=1e-3)`` or the official
segmentation one ``dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=False)``.

Schedule config (``type`` one of multistep, poly, cosine, constant):

- ``multistep``: ``milestones`` in epochs, ``gamma``; the pose default is milestones (170, 200)
  of 210 epochs, gamma 0.1. Epoch e (0-based) trains at ``lr * gamma ** #(milestones <= e)``;
  with ``step_at_start`` at ``lr * gamma ** #(milestones <= e + 1)``, as the official pose code,
  which calls ``lr_scheduler.step()`` at the start of every epoch (its lr drops after 169 and
  199 epochs, not 170 and 200).
- ``poly``: ``lr * (1 - t / T) ** power`` (power 0.9 for segmentation), floored at ``min_lr``; T the run's
  iterations (``train.max_iters`` where that is set, as mmcv's IterBasedRunner counts).
- ``cosine``: from lr down to ``min_lr`` along half a cosine.
- ``by_epoch``: for poly and cosine, t counts epochs instead of iterations (default False).
- ``warmup_iters`` / ``warmup_ratio`` / ``warmup``: over the first ``warmup_iters`` iterations
  (0 = none) the above is multiplied by a factor rising from ``warmup_ratio`` to 1: ``linear``
  (default), ``exp`` (``warmup_ratio ** (1 - t / warmup_iters)``) or held at ``warmup_ratio``
  (``constant``, mmdetection's FCOS): mmcv's ``LrUpdaterHook`` kinds.
- ``set_after_step``: the lr of step i is the schedule's value at i - 1 (default False). The
  official segmentation code sets the lr after each ``optimizer.step()`` from the iterations done,
  so its first two steps run at the base lr and every later one a step behind.

Parameter-wise options (mmcv's ``paramwise_cfg`` names and rules, as mmdetection's and
mmsegmentation's configs write them): ``bias_lr_mult`` multiplies the lr of every bias outside the
normalisation layers; ``bias_decay_mult`` the weight decay of those biases (except depthwise
convolutions'); ``norm_decay_mult`` that of the normalisation layers' weights and biases;
``dwconv_decay_mult`` that of depthwise convolutions. Each multiplies onto ``head_lr_mult``.

Linear learning-rate scaling (Goyal et al. 2017): ``optimizer.reference_batch`` is the total
batch (images per step over all processes) the recipe's ``lr`` was set for; when the run's total
batch differs, :func:`scale_lr` multiplies the lr by ``total / reference_batch`` and says so
(``optimizer.auto_scale=False`` keeps the lr as written).

The scheduler is stepped after every optimizer step, so all schedules are written as a function
of the iteration; its state (``last_epoch`` = iterations done) goes into the checkpoint.
"""
from __future__ import annotations

import bisect
import difflib
import inspect
import math
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from hrseg.errors import ConfigError

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
}
SCHEDULES = ("multistep", "poly", "cosine", "constant")
WARMUPS = ("linear", "constant", "exp")
# Every schedule key and its default; keys a schedule type does not use are ignored.
SCHEDULE_DEFAULTS: dict[str, Any] = dict(
    type="multistep", milestones=[170, 200], gamma=0.1, power=0.9, min_lr=0.0, by_epoch=False,
    warmup_iters=0, warmup_ratio=0.001, warmup="linear", step_at_start=False, set_after_step=False,
)
# mmcv's paramwise_cfg multipliers (module docstring) and their defaults
PARAMWISE_DEFAULTS: dict[str, float] = dict(bias_lr_mult=1.0, bias_decay_mult=1.0, norm_decay_mult=1.0,
                                            dwconv_decay_mult=1.0)
# Optimizer keys the engine reads itself (not passed to torch.optim).
ENGINE_OPTIMIZER_KEYS = ("head_lr_mult", "auto_scale", "reference_batch", *PARAMWISE_DEFAULTS)
NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm)


def _choice(field: str, what: str, name: Any, known: Any) -> str:
    key = str(name).lower()
    if key not in known:
        close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"{field}: unknown {what} {name!r}{hint}; known: {', '.join(known)}")
    return key


def build_optimizer(model: nn.Module, cfg: Mapping[str, Any], fused: bool = False) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over the model's trainable parameters.

    Options the chosen optimizer does not take (``momentum`` for Adam, ``betas`` for SGD) are
    ignored, so one config schema serves all three; an option no optimizer takes is an error.
    ``head_lr_mult`` (default 1) multiplies the learning rate of every parameter outside
    ``model.backbone`` (the official segmentation code's ``NONBACKBONE_MULT``, 10 for
    PASCAL-Context). ``fused``: the single-kernel implementation (the same update; the
    speed option ``train.fused_optimizer``, on by default under CUDA).
    """
    cfg = dict(cfg)
    cls = OPTIMIZERS[_choice("optimizer.type", "optimizer", cfg.pop("type", "Adam"), OPTIMIZERS)]
    mults = {key: float(cfg.get(key, default)) for key, default in
             {"head_lr_mult": 1.0, **PARAMWISE_DEFAULTS}.items()}
    for key in ENGINE_OPTIMIZER_KEYS:
        cfg.pop(key, None)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
    every = set().union(*(inspect.signature(c.__init__).parameters for c in OPTIMIZERS.values()))
    for key in cfg:
        if key not in every:
            close = difflib.get_close_matches(key, sorted(accepted), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"optimizer.{key}: unknown optimizer option{hint}")
    kwargs = {k: v for k, v in cfg.items() if k in accepted}
    if kwargs.get("nesterov") and not kwargs.get("momentum"):
        raise ConfigError("optimizer: nesterov=True needs momentum > 0")
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if fused:
        kwargs["fused"] = True
    groups = param_groups(model, mults)
    if len(groups) == 1:
        return cls(groups[0][2], **kwargs)
    lr, decay = float(kwargs.pop("lr")), float(kwargs.get("weight_decay", 0.0))
    return cls([{"params": params, "lr": lr * lr_mult, "weight_decay": decay * decay_mult}
                for lr_mult, decay_mult, params in groups], lr=lr, **kwargs)


def param_groups(model: nn.Module, mults: Mapping[str, float]) -> list[tuple[float, float, list[nn.Parameter]]]:
    """The trainable parameters as ``(lr_mult, decay_mult, params)`` groups by ``head_lr_mult`` and
    mmcv's ``DefaultOptimizerConstructor.add_params`` rules (module docstring), each in the model's
    order; a group at the base lr first (the lr the trainer logs is group 0's)."""
    head = mults.get("head_lr_mult", 1.0)
    rules = {**PARAMWISE_DEFAULTS, **{k: v for k, v in mults.items() if k in PARAMWISE_DEFAULTS}}
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    seen: set[int] = set()
    found_backbone = False
    for module_name, module in model.named_modules():
        is_norm = isinstance(module, NORM_LAYERS)
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            in_backbone = module_name == "backbone" or module_name.startswith("backbone.")
            found_backbone |= in_backbone
            lr_mult = (1.0 if in_backbone else head) * (rules["bias_lr_mult"] if name == "bias" and not is_norm
                                                        else 1.0)
            decay_mult = (rules["norm_decay_mult"] if is_norm else rules["dwconv_decay_mult"] if is_dwconv
                          else rules["bias_decay_mult"] if name == "bias" else 1.0)
            groups.setdefault((lr_mult, decay_mult), []).append(param)
    if head != 1.0 and not found_backbone:
        raise ConfigError("optimizer.head_lr_mult needs a model with a 'backbone' submodule")
    ordered = sorted(groups.items(), key=lambda item: item[0][0] != 1.0)  # the base lr's group first
    return [(lr_mult, decay_mult, params) for (lr_mult, decay_mult), params in ordered]


def scale_lr(cfg: Mapping[str, Any], total_batch: int) -> tuple[dict[str, Any], str]:
    """The optimizer config with the linear scaling rule applied for ``total_batch`` images per
    step, and a sentence saying what was done (for the log and ``--dry-run``)."""
    cfg = dict(cfg)
    lr, reference = float(cfg["lr"]), cfg.get("reference_batch")
    if not reference:
        return cfg, f"lr {lr:g} (total batch {total_batch}; the config names no reference batch)"
    reference = int(reference)
    if reference < 1 or total_batch < 1:
        raise ConfigError(f"optimizer.reference_batch: expected a positive total batch, got {reference}")
    if total_batch == reference:
        return cfg, f"lr {lr:g}: total batch {total_batch} equals the recipe's reference batch"
    if not cfg.get("auto_scale", True):
        return cfg, (f"lr {lr:g} kept (optimizer.auto_scale=False) although the total batch {total_batch} "
                     f"differs from the recipe's {reference}")
    cfg["lr"] = lr * total_batch / reference
    return cfg, (f"lr {lr:g} x {total_batch}/{reference} = {cfg['lr']:g}: linear scaling rule for a total batch "
                 f"of {total_batch} instead of the recipe's {reference} (optimizer.auto_scale=False to keep {lr:g})")


def _schedule_factor(cfg: Mapping[str, Any], iters_per_epoch: int, max_epochs: int, max_iters: int | None = None
                     ) -> Callable[[int], float]:
    """Multiplier of the base lr at a given iteration (before warmup and min_lr)."""
    kind = _choice("schedule.type", "schedule", cfg["type"], SCHEDULES)
    if kind == "constant":
        return lambda it: 1.0
    if kind == "multistep":
        milestones = sorted(int(m) for m in cfg["milestones"])
        gamma, shift = float(cfg["gamma"]), int(bool(cfg["step_at_start"]))
        return lambda it: gamma ** bisect.bisect_right(milestones, it // iters_per_epoch + shift)
    by_epoch = bool(cfg["by_epoch"])
    total = max_epochs if by_epoch else max_iters or max_epochs * iters_per_epoch

    def progress(it: int) -> float:
        return min((it // iters_per_epoch if by_epoch else it) / max(total, 1), 1.0)

    if kind == "poly":
        power = float(cfg["power"])
        return lambda it: (1.0 - progress(it)) ** power
    return lambda it: 0.5 * (1.0 + math.cos(math.pi * progress(it)))


def _warmup_factor(cfg: Mapping[str, Any]) -> Callable[[int], float]:
    """The warmup's multiplier at an iteration (1 after ``warmup_iters``): mmcv's kinds."""
    kind = _choice("schedule.warmup", "warmup", cfg["warmup"], WARMUPS)
    iters, ratio = int(cfg["warmup_iters"]), float(cfg["warmup_ratio"])
    if kind == "constant":
        return lambda it: ratio if it < iters else 1.0
    if kind == "exp":
        return lambda it: ratio ** (1.0 - it / iters) if it < iters else 1.0
    return lambda it: ratio + (1.0 - ratio) * it / iters if it < iters else 1.0


def iteration_plan(max_iters: int, iters_per_epoch: int) -> tuple[int, str]:
    """The epochs ``max_iters`` iterations take, the last one cut, and the log's line on them."""
    epochs = -(-max_iters // max(iters_per_epoch, 1))
    last = max_iters - (epochs - 1) * iters_per_epoch
    return epochs, (f"train.max_iters {max_iters}: {epochs} epoch(s) of {iters_per_epoch} iterations, the last one "
                    f"cut to {last}" if last < iters_per_epoch else f"train.max_iters {max_iters}: {epochs} epoch(s)")


def check_schedule(optimizer_cfg: Mapping[str, Any], schedule_cfg: Mapping[str, Any], max_epochs: int) -> None:
    """The optimizer and schedule sections' errors (unknown types and options), raised by building
    both for a stand-in model: before any data is read, ``--dry-run`` included."""
    stand_in = nn.ModuleDict({"backbone": nn.Linear(1, 1), "head": nn.Linear(1, 1)})  # for head_lr_mult
    build_scheduler(build_optimizer(stand_in, optimizer_cfg), schedule_cfg, 1, max_epochs)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], iters_per_epoch: int,
                    max_epochs: int, max_iters: int | None = None) -> LambdaLR:
    """A per-iteration LambdaLR for ``cfg`` (see the module docstring); ``max_iters``: the run's length in
    iterations where it is not whole epochs (``train.max_iters``), what ``poly`` and ``cosine`` run down over."""
    unknown = sorted(set(cfg) - set(SCHEDULE_DEFAULTS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(SCHEDULE_DEFAULTS), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"schedule.{unknown[0]}: unknown schedule option{hint}")
    cfg = {**SCHEDULE_DEFAULTS, **cfg}
    if iters_per_epoch < 1:
        raise ConfigError("schedule: the training loader yields no batch (empty dataset?)")
    factor = _schedule_factor(cfg, iters_per_epoch, max_epochs, max_iters)
    warmup = _warmup_factor(cfg)
    min_lr, lag = float(cfg["min_lr"]), int(bool(cfg["set_after_step"]))

    def per_group(base_lr: float) -> Callable[[int], float]:
        floor = min(min_lr / base_lr, 1.0) if base_lr > 0 else 0.0

        def lr_factor(it: int) -> float:
            it = max(it - lag, 0)
            return warmup(it) * (floor + (1.0 - floor) * factor(it))
        return lr_factor

    # Closures (not objects) so that LambdaLR.state_dict() holds plain data only.
    return LambdaLR(optimizer, [per_group(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups])
