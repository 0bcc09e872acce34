"""Config files for the tools: mmengine-style Python files, checked against a schema.

A config is a Python file under ``configs/`` in mmengine's format (``_base_`` inheritance,
``_delete_=True`` to replace rather than merge a dict). :func:`load_config` returns a plain
nested dict: the tool's ``defaults`` with the file and then the ``--cfg-options`` overrides
merged in. The defaults double as the schema: a key they do not have, at any depth, is an error
that names the file and the key and suggests close matches, so a typo (``optimizer.lrr``)
cannot silently train with the default. Top-level names starting with ``_`` are helper variables
of the file and are dropped. A dict whose default is empty, is None, or is listed in
``open_keys`` (e.g. a model's keyword arguments) takes any keys.

mmengine is imported here only, and only inside the functions that read files: models,
inference and evaluation never import mmengine or mmcv.
"""
from __future__ import annotations

import ast
import copy
import difflib
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from hrseg.configs_index import find_config
from hrseg.errors import ConfigError


def load_config(path: str | os.PathLike | None, cfg_options: list[str] | Mapping[str, Any] | None = None,
                defaults: Mapping[str, Any] | None = None, open_keys: Iterable[str] = ()) -> dict[str, Any]:
    """The config at ``path`` (a file, or the name of a shipped config such as
    ``hrnet_w32_coco_256x192``; None: the defaults alone) as a plain dict; see the module docstring.

    ``cfg_options``: ``["optimizer.lr=5e-4", "schedule.milestones=[90,120]"]`` (values parsed as
    mmengine's DictAction does: numbers, true/false, None, [lists], (tuples), a,b lists) or a dict
    ``{"optimizer.lr": 5e-4}``. Without ``defaults`` nothing is validated.
    """
    schema = _Schema(defaults, set(open_keys))
    cfg = copy.deepcopy(dict(defaults or {}))
    where = "defaults"
    if path is not None:
        path = find_config(path)  # a file, or a shipped config by name (hrseg.configs_index)
        file_cfg, files = _read_file(path)
        where = str(path)
        schema.check(file_cfg, f"{path}{' (or its _base_ files)' if len(files) > 1 else ''}")
        _merge(cfg, file_cfg)
    overrides = _parse_options(cfg_options, where)
    for key, value in overrides.items():
        schema.check_key(key, value, f"{where}: --cfg-options")
        _set(cfg, key.split("."), value, where)
    return cfg


# -- reading ------------------------------------------------------------------------------------
def _read_file(path: Path) -> tuple[dict[str, Any], list[Path]]:
    """The file's config as plain data, and the files of its ``_base_`` chain (itself first)."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    files = _chain(path)
    try:
        from mmengine.config import Config  # lazily: only config reading needs mmengine

        raw = Config.fromfile(str(path)).to_dict()
    except Exception as e:  # a _base_ file missing or broken, or the file raising when run
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ConfigError(f"{path}: cannot be loaded ({type(e).__name__}: {detail})") from None
    return _strip({k: v for k, v in raw.items() if not k.startswith("_")}), files


def _chain(path: Path) -> list[Path]:
    """Compile ``path`` and the ``_base_`` files it names (plain relative paths), so that a
    syntax error names its own file and line (mmengine's message names neither)."""
    if path.suffix != ".py" or not path.is_file():
        return [path]
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except SyntaxError as e:
        raise ConfigError(f"{path}: syntax error at line {e.lineno}: {e.msg}") from None
    files = [path]
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_base_" for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                continue
            for base in [bases] if isinstance(bases, str) else bases:
                if isinstance(base, str) and "::" not in base and "{{" not in base:
                    files += _chain(path.parent / base)
    return files


def _strip(obj: Any) -> Any:
    """Plain data without mmengine's leftover ``_delete_`` markers."""
    if isinstance(obj, Mapping):
        return {k: _strip(v) for k, v in obj.items() if k != "_delete_"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _parse_options(options: list[str] | Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    if not options:
        return {}
    if isinstance(options, Mapping):
        return dict(options)
    from mmengine.config import DictAction  # same value syntax as mmengine's tools

    parsed: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where}: --cfg-options expects KEY=VALUE, got {item!r}")
        try:
            parsed[key] = DictAction._parse_iterable(value)
        except AssertionError as e:  # unbalanced brackets
            raise ConfigError(f"{where}: --cfg-options {item!r}: {e}") from None
    return parsed


# -- merging ------------------------------------------------------------------------------------
def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``base`` in place: dicts recursively, anything else replaced."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(dict(value)) if isinstance(value, Mapping) else copy.deepcopy(value)
    return base


def _set(cfg: dict[str, Any], keys: list[str], value: Any, where: str) -> None:
    node: Any = cfg
    for i, key in enumerate(keys[:-1]):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            raise ConfigError(f"{where}: --cfg-options {'.'.join(keys)}: "
                              f"{'.'.join(keys[:i]) or 'the config'} is not a dict")
    last = keys[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        _merge(node, {last: value})
    else:
        raise ConfigError(f"{where}: --cfg-options {'.'.join(keys)}: {'.'.join(keys[:-1])} is not a dict")


# -- validation ---------------------------------------------------------------------------------
class _Schema:
    """The known keys: those of the defaults, recursively (see the module docstring)."""

    def __init__(self, defaults: Mapping[str, Any] | None, open_keys: set[str]):
        self.defaults = defaults
        self.open_keys = open_keys
        self.all_keys = sorted(_dotted(defaults or {}))

    def _children(self, prefix: list[str]) -> Mapping[str, Any] | None:
        """The known keys under ``prefix``, or None where any key goes."""
        node: Any = self.defaults
        for i, key in enumerate(prefix):
            if not isinstance(node, Mapping) or ".".join(prefix[:i]) in self.open_keys:
                return None
            node = node.get(key)
        if not isinstance(node, Mapping) or not node or ".".join(prefix) in self.open_keys:
            return None
        return node

    def check(self, cfg: Mapping[str, Any], where: str, prefix: list[str] | None = None) -> None:
        prefix = prefix or []
        known = self._children(prefix) if self.defaults is not None else None
        if known is None:
            return
        for key, value in cfg.items():
            if key not in known:
                self._unknown(prefix + [key], known, where)
            if isinstance(value, Mapping):
                self.check(value, where, prefix + [key])

    def check_key(self, dotted: str, value: Any, where: str) -> None:
        if self.defaults is None:
            return
        keys = dotted.split(".")
        for i in range(len(keys)):
            known = self._children(keys[:i])
            if known is None:
                return
            if keys[i] not in known:
                self._unknown(keys[:i + 1], known, where)
        if isinstance(value, Mapping):
            self.check(value, where, keys)

    def _unknown(self, keys: list[str], known: Mapping[str, Any], where: str) -> None:
        dotted, parent = ".".join(keys), ".".join(keys[:-1])
        near = [".".join(keys[:-1] + [k]) for k in difflib.get_close_matches(keys[-1], list(known), n=3, cutoff=0.6)]
        near += [k for k in self.all_keys if k.rsplit(".", 1)[-1] == keys[-1] and k != dotted][:3]
        if near:
            hint = f"; did you mean {', '.join(dict.fromkeys(near))}?"
        else:
            hint = f"; known keys{' under ' + parent if parent else ''}: {', '.join(sorted(known))}"
        raise ConfigError(f"{where}: unknown config key '{dotted}'{hint}")


def _dotted(d: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in d.items():
        yield prefix + key
        if isinstance(value, Mapping):
            yield from _dotted(value, prefix + key + ".")
