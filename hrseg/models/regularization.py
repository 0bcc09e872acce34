"""What a model exposes to training schedules that change its regularization while it trains.

EfficientNetV2's progressive learning raises dropout and stochastic depth stage by stage. The
engine (:class:`hrseg.engine.progressive.ProgressiveHook`) must not know model classes, so a model
says itself what it can regularize: :class:`StageRegularization` gives it
``set_regularization(dropout=..., drop_path=...)`` and ``regularization()``.

* dropout: channel dropout (``dropout2d``) on the input of the module named by
  ``dropout_module`` (default ``"head"``), added as a forward pre-hook so the state dict (and the
  official checkpoints) do not change;
* drop_path: the ``drop_path_rate`` of every block that has one (MBConv, Fused-MBConv).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


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
    """Dropout of rate ``rate`` on the input of ``model.<module_name>`` while training (a forward
    pre-hook added on first use; later calls change its rate)."""
    target = model.get_submodule(module_name) if module_name else model
    hook = getattr(target, "_hrseg_feature_dropout", None)
    if hook is None:
        hook = _FeatureDropout(rate)
        target.register_forward_pre_hook(hook)
        target._hrseg_feature_dropout = hook  # type: ignore[attr-defined]
    hook.rate = float(rate)


def drop_path_blocks(model: nn.Module) -> list[nn.Module]:
    """The submodules with a stochastic-depth rate (``drop_path_rate``)."""
    return [m for m in model.modules() if m is not model and hasattr(m, "drop_path_rate")]


class StageRegularization:
    """Mixin for task models (``nn.Module`` subclasses with a ``head``)."""

    dropout_module: str = "head"

    def set_regularization(self, dropout: float = 0.0, drop_path: float = 0.0) -> int:
        """Set the feature dropout before the head and every block's stochastic-depth rate;
        returns how many blocks have one (a non-zero ``drop_path`` with none is allowed: the
        schedule is the same for every model, it just has nothing to act on)."""
        assert isinstance(self, nn.Module)
        if not 0 <= dropout < 1 or not 0 <= drop_path < 1:
            raise ValueError(f"dropout and drop_path must lie in [0, 1), got {dropout}, {drop_path}")
        set_feature_dropout(self, dropout, self.dropout_module)
        blocks = drop_path_blocks(self)
        for block in blocks:
            block.drop_path_rate = float(drop_path)
        return len(blocks)

    def regularization(self) -> dict[str, float]:
        """The current rates: ``{'dropout': ..., 'drop_path': ...}`` (the blocks' largest)."""
        assert isinstance(self, nn.Module)
        target = self.get_submodule(self.dropout_module) if self.dropout_module else self
        hook = getattr(target, "_hrseg_feature_dropout", None)
        rates = [float(b.drop_path_rate) for b in drop_path_blocks(self)]
        return {"dropout": hook.rate if hook is not None else 0.0, "drop_path": max(rates, default=0.0)}
