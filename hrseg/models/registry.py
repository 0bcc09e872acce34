"""``build_model(name, **overrides)`` and ``list_models()``: one entry point for every model."""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Any, Callable

from torch import nn

from hrseg.errors import ConfigError

ModelFactory = Callable[..., nn.Module]
_MODELS: dict[str, ModelFactory] = {}


def register_model(name: str, factory: ModelFactory) -> None:
    if name in _MODELS:
        raise ValueError(f"model {name!r} registered twice")
    _MODELS[name] = factory


def _ensure_registered() -> None:
    """Import every module of ``hrseg.models``: each registers the models it defines."""
    import hrseg.models as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def list_models(pattern: str = "") -> list[str]:
    """Names of all models, optionally those containing ``pattern``."""
    _ensure_registered()
    return sorted(n for n in _MODELS if pattern in n)


def build_model(name: str, **overrides: Any) -> nn.Module:
    """Build a named model; ``overrides`` change its options (e.g. ``num_classes=60``).

    ``weights=`` (a tag such as ``"coco"``, a published name or a path) loads the whole model,
    ``pretrained=`` (``"imagenet"``, a name or a path) its backbone only: see :mod:`hrseg.weights`."""
    weights, pretrained = overrides.pop("weights", None), overrides.pop("pretrained", None)
    model = _build(name, **overrides)
    if weights or pretrained:
        from hrseg.weights import apply_to_model

        apply_to_model(model, name, weights=weights, pretrained=pretrained)
    return model


def _build(name: str, **overrides: Any) -> nn.Module:
    _ensure_registered()
    try:
        factory = _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see hrseg.list_models()"
        raise ConfigError(f"unknown model {name!r}{hint}") from None
    try:
        return factory(**overrides)
    except TypeError as e:
        raise ConfigError(f"bad option for model {name!r}: {e}") from None
