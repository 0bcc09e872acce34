"""A config's ``data.synthetic`` section checked against the generator it is for: the keys are the
generator's keyword arguments, each value of its default's kind (a dataclass default, such as
``params``, takes a dict of its fields), so a typo or a wrong kind is one error naming the key, not
a traceback from inside the generator."""
from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from inspect import signature
from typing import Any, Callable, Mapping

from hrseg.errors import ConfigError

NOT_OPTIONS = ("root", "log", "progress_every")  # the generator's arguments a config does not set


def generator_options(options: Any, generator: Callable[..., Any], where: str = "data.synthetic") -> dict[str, Any]:
    """``options`` as ``generator``'s keyword arguments, checked (see the module docstring)."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}: expected a dict of the generator's options (e.g. --cfg-options "
                          f"{where}.num_train=100), got {options!r}")
    defaults = {name: p.default for name, p in signature(generator).parameters.items() if name not in NOT_OPTIONS}
    checked = {}
    for key, value in options.items():
        if key not in defaults:
            raise ConfigError(f"{where}.{key}: unknown option; known: {', '.join(sorted(defaults))}")
        checked[key] = _of_kind(value, defaults[key], f"{where}.{key}")
    return checked


def _of_kind(value: Any, default: Any, where: str) -> Any:
    if is_dataclass(default) and not isinstance(default, type):
        if isinstance(value, type(default)):
            return value
        known = sorted(f.name for f in fields(default))
        if not isinstance(value, Mapping) or set(value) - set(known):
            raise ConfigError(f"{where}: expected a dict with some of {', '.join(known)}, got {value!r}")
        return replace(default, **{k: _of_kind(v, getattr(default, k), f"{where}.{k}") for k, v in value.items()})
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: expected an integer >= 0, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
    elif isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ConfigError(f"{where}: expected {len(default)} values like {list(default)}, got {value!r}")
        return tuple(_of_kind(v, d, where) for v, d in zip(value, default))
    return value  # None defaults (a keypoint set, its sources): the generator checks them
