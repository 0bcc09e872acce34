"""``build_model(name, **overrides)``, ``list_models()`` and ``model_info(name)``: one entry
point for every model, and the facts each one expects (task, input size, normalisation, the
keypoints or classes of its default dataset), so no tool has to work them out again."""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from hrseg.errors import ConfigError
from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD
from hrseg.meta.model_names import TASK_PREFIXES, task_of_name

ModelFactory = Callable[..., nn.Module]
_MODELS: dict[str, ModelFactory] = {}
_INFO: dict[str, "ModelInfo"] = {}
# The modules that define models; each registers its own on import.
_MODEL_MODULES = ("backbones.hrnet", "pyramid", "pose", "segmentation", "ocr", "detection", "mask_rcnn",
                  "cascade_rcnn", "mbconv", "scaling", "multitask")


@dataclass(frozen=True)
class ModelInfo:
    """What a registered model expects. ``dataset``: the dataset whose classes / keypoints its
    default head predicts (``coco_person``, ``cityscapes``, ``coco``, ``imagenet``); ``input_size``
    (H, W) is its recipe's; a checkpoint records the concrete values of its own run."""

    task: str  # pose | seg | det | backbone | neck
    input_size: tuple[int, int] | None = None
    dataset: str | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "input_size": list(self.input_size) if self.input_size else None,
                "dataset": self.dataset, "mean": list(self.mean), "std": list(self.std), **self.extra}


def register_model(name: str, factory: ModelFactory, info: ModelInfo | None = None) -> None:
    """Register ``name``; its task must be the one its name says (:func:`hrseg.meta.model_names.task_of_name`)."""
    if name in _MODELS:
        raise ValueError(f"model {name!r} registered twice")
    task = info.task if info is not None and info.task in TASK_PREFIXES else None
    if task_of_name(name) != task:
        raise ValueError(f"model {name!r}: its name must start with {task + '_' if task else 'no task'} "
                         f"(a {info.task if info else 'backbone'} model)")
    _MODELS[name] = factory
    _INFO[name] = info or ModelInfo(task="backbone")


def _ensure_registered() -> None:
    """Import the model modules named in :data:`_MODEL_MODULES` (each registers its models)."""
    for module in _MODEL_MODULES:
        importlib.import_module(f"hrseg.models.{module}")


def _lookup(name: str) -> ModelFactory:
    _ensure_registered()
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see hrseg.list_models()"
        raise ConfigError(f"unknown model {name!r}{hint}") from None


def list_models(pattern: str = "", task: str | None = None) -> list[str]:
    """Names of all models, optionally those containing ``pattern`` and of one ``task``."""
    _ensure_registered()
    return sorted(n for n in _MODELS if pattern in n and (task is None or _INFO[n].task == task))


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered model."""
    _lookup(name)
    return _INFO[name]


def build_model(name: str, **overrides: Any) -> nn.Module:
    """Build a named model with its initial weights; ``overrides`` change its options (e.g.
    ``num_classes=60``). Weights by name or file are one layer up: ``hrseg.build_model(name,
    weights=..., pretrained=...)`` (:func:`hrseg.weights.build_model`) composes this with them.

    Without ``overrides`` the model's ``meta`` is what it expects (:func:`model_info`) and its name, so that
    :func:`hrseg.save_checkpoint` records them and the tools run the file without a config; an override may
    change what it predicts (its classes), so a model built with one has no ``meta``: its config names it."""
    if "weights" in overrides or "pretrained" in overrides:
        raise ConfigError(f"{name}: the registry builds models without weights; load them with "
                          "hrseg.build_model(name, weights=..., pretrained=...) (hrseg.weights.build_model)")
    factory = _lookup(name)
    try:
        model = factory(**overrides)
    except TypeError as e:
        raise ConfigError(f"bad option for model {name!r}: {e}") from None
    if not overrides:
        model.meta = {**_INFO[name].to_dict(), "model": name}
    return model
