"""Config files for the tools: Python files in mmengine's config format, checked against a schema.

A config is a Python file under ``configs/`` in mmengine's format, read by hrseg itself (no
mmengine: it would install ``opencv-python`` beside hrseg's ``opencv-python-headless``, see
docs/dependencies.md): the file is run and its top-level names are the config; ``_base_`` names
the files it inherits from (paths relative to it), whose dicts it merges into, recursively;
``_delete_=True`` in a dict replaces the base's dict instead; ``{{_base_.a.b}}`` (and ``_base_.a``)
stand for a base file's value. :func:`load_config` returns a plain nested dict: the tool's
``defaults`` with the file and then the ``--cfg-options`` overrides merged in. The defaults
double as the schema: a key they do not have, at any depth, is an error that names the file and
the key and suggests close matches, so a typo (``optimizer.lrr``) cannot silently train with the
default. Top-level names starting with ``_`` are helper variables of the file and are dropped. A
dict whose default is empty, is None, or is listed in ``open_keys`` (e.g. a model's keyword
arguments) takes any keys. Values must be of the default's kind (see :meth:`hrseg.config.schema.Schema.check_value`).
"""
from __future__ import annotations

import ast
import copy
import json
import os
import re
import types
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from hrseg.configs_index import find_config
from hrseg.config.schema import Schema
from hrseg.errors import ConfigError


def load_config(path: str | os.PathLike | None, cfg_options: list[str] | Mapping[str, Any] | None = None,
                defaults: Mapping[str, Any] | None = None, open_keys: Iterable[str] = ()) -> dict[str, Any]:
    """The config at ``path`` (a file, or the name of a shipped config such as
    ``hrnet_w32_coco_256x192``; None: the defaults alone) as a plain dict; see the module docstring.

    ``cfg_options``: ``["optimizer.lr=5e-4", "schedule.milestones=[90,120]"]`` (values parsed as
    mmengine's DictAction does: numbers, true/false, None, [lists], (tuples), a,b lists) or a dict
    ``{"optimizer.lr": 5e-4}``. Without ``defaults`` nothing is validated.
    """
    schema = Schema(defaults, set(open_keys))
    cfg = copy.deepcopy(dict(defaults or {}))
    where = ""  # no file: the messages start at --cfg-options
    if path is not None:
        path = find_config(path)  # a file, or a shipped config by name (hrseg.configs_index)
        file_cfg, files = _read_file(path)
        where = str(path)
        schema.check(file_cfg, f"{path}{' (or its _base_ files)' if len(files) > 1 else ''}")
        _merge(cfg, file_cfg)
    overrides = parse_options(cfg_options, where)
    for key, value in overrides.items():
        schema.check_key(key, value, f"{_at(where)}--cfg-options", " ")  # "x.py: --cfg-options optimizer.lr: ..."
        _set(cfg, key.split("."), value, where)
    return cfg


# -- reading ------------------------------------------------------------------------------------
_BASE, _DELETE = "_base_", "_delete_"
# {{_base_.a.b}}, quoted or not: the value of a.b in the base files (mmengine's reference syntax)
_BASE_REFERENCE = re.compile(r"""(['"]?)\{\{\s*_base_\.([\w.]+)\s*\}\}\1""")
_ENV_PLACEHOLDER = re.compile(r"\{\{\s*\$[^}]*\}\}")  # mmengine's {{$NAME:default}}: not supported


def _read_file(path: Path) -> tuple[dict[str, Any], list[Path]]:
    """The file's config as plain data (helper names, ``_x``, dropped), and the files of its
    ``_base_`` chain (itself first)."""
    cfg, files = _read_tree(path, ())
    return {k: v for k, v in cfg.items() if not k.startswith("_")}, files


def _read_tree(path: Path, inside: tuple[Path, ...]) -> tuple[dict[str, Any], list[Path]]:
    """The config of ``path`` with its ``_base_`` files merged under it, and the files read.
    ``inside``: the files that named it, innermost last."""
    if not path.is_file():
        raise ConfigError(f"{inside[-1]}: _base_ file {path} not found" if inside else f"{path}: config file not found")
    if path.resolve() in {p.resolve() for p in inside}:
        raise ConfigError(f"{path}: its _base_ files include itself")
    own, base_names = _parse(path)
    bases: dict[str, Any] = {}
    files, origin = [path], {}
    for name in base_names:
        base, base_files = _read_tree(path.parent / name, inside + (path,))
        for key in base:
            if key in origin:  # mmengine's rule: two base files may not set the same key
                raise ConfigError(f"{path}: its _base_ files {origin[key]} and {name} both set '{key}'")
            origin[key] = name
        bases.update(base)
        files += base_files
    return _strip(_inherit(own(bases), bases, path)), files


def _parse(path: Path) -> tuple[Callable[[dict[str, Any]], dict[str, Any]], list[str]]:
    """The file's own config, as a function of its merged base config (which ``_base_``
    references read), and the ``_base_`` files it names."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a JSON config holds an object, found {type(data).__name__}")
        names = _base_list(data.pop(_BASE, []), path)
        return (lambda bases: data), names
    if path.suffix != ".py":
        raise ConfigError(f"{path}: config files are Python (.py) or JSON (.json) files")
    source = path.read_text(encoding="utf-8")
    for key, value in {"fileDirname": str(path.parent), "fileBasename": path.name,
                       "fileBasenameNoExtension": path.stem, "fileExtname": path.suffix}.items():
        source = re.sub(r"\{\{\s*" + key + r"\s*\}\}", value.replace("\\", "/"), source)
    source = _BASE_REFERENCE.sub(lambda m: f"__base_value__({m.group(2)!r})", source)
    unknown = _ENV_PLACEHOLDER.search(source)
    if unknown:  # a config that depends on the environment would not repeat
        raise ConfigError(f"{path}: the placeholder {unknown.group(0)} is not supported "
                          "(supported: {{_base_.KEY}}, {{fileDirname}} and the other file names)")
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError as e:
        raise ConfigError(f"{path}: syntax error at line {e.lineno}: {e.msg}") from None
    names: list[str] = []
    for node in list(tree.body):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == _BASE for t in node.targets):
            try:
                names = _base_list(ast.literal_eval(node.value), path)
            except ValueError:
                raise ConfigError(f"{path}: line {node.lineno}: _base_ must be a path or a list of paths") from None
            tree.body.remove(node)
    code = compile(tree, str(path), "exec")
    return (lambda bases: _run(path, code, bases)), names


def _base_list(value: Any, path: Path) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{path}: _base_ must be a path or a list of paths, found {value!r}")
    for name in names:
        if "::" in name:
            raise ConfigError(f"{path}: _base_ {name!r}: configs of other packages (mmdet::...) are not supported")
    return list(names)


class _Namespace(dict):
    """A dict whose keys also read as attributes (``_base_.model.width``), as mmengine's ConfigDict."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"the _base_ files set no '{name}'") from None
        return _Namespace(value) if isinstance(value, dict) else value


def _run(path: Path, code: types.CodeType, bases: dict[str, Any]) -> dict[str, Any]:
    """Run a Python config file; its top-level names (less modules and functions) are the config."""
    def base_value(dotted: str) -> Any:
        node: Any = bases
        for key in dotted.split("."):
            if not isinstance(node, Mapping) or key not in node:
                raise ConfigError(f"{path}: {{{{_base_.{dotted}}}}}: the _base_ files set no '{dotted}'")
            node = node[key]
        return copy.deepcopy(node)

    scope: dict[str, Any] = {_BASE: _Namespace(copy.deepcopy(bases)), "__base_value__": base_value}
    try:
        exec(code, scope)  # noqa: S102 - a config file is Python, run as mmengine runs it
    except ConfigError:
        raise
    except Exception as e:  # the file raising when run
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ConfigError(f"{path}: cannot be loaded ({type(e).__name__}: {detail})") from None
    return {k: v for k, v in scope.items() if not k.startswith("__") and k != _BASE
            and not isinstance(v, (types.FunctionType, types.ModuleType))}


def _inherit(child: Mapping[str, Any], base: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """``child`` merged into a copy of ``base`` as mmengine merges a file into its bases: dicts
    recursively unless the child's has ``_delete_=True``; anything else replaced."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping):
            value = dict(value)
            if key in out and not value.pop(_DELETE, False):
                if not isinstance(out[key], Mapping):
                    raise ConfigError(f"{path}: '{key}' is a dict here but a {type(out[key]).__name__} in its "
                                      "_base_ files; set _delete_=True in it to replace the base's value")
                value = _inherit(value, out[key], path)
        out[key] = value
    return out


def _strip(obj: Any) -> Any:
    """Plain data: dicts, lists and tuples copied, leftover ``_delete_`` markers dropped."""
    if isinstance(obj, Mapping):
        return {k: _strip(v) for k, v in obj.items() if k != _DELETE}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_strip(v) for v in obj)
    return obj


def _at(where: str) -> str:
    """``where`` (a config file) as a message's prefix; nothing for the defaults alone."""
    return f"{where}: " if where else ""


def parse_options(options: list[str] | Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    if not options:
        return {}
    if isinstance(options, Mapping):
        return dict(options)
    parsed: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{_at(where)}--cfg-options expects KEY=VALUE, got {item!r}")
        try:
            parsed[key] = parse_option_value(value)
        except ValueError as e:
            raise ConfigError(f"{_at(where)}--cfg-options {item!r}: {e}") from None
    return parsed


def parse_option_value(text: str) -> Any:
    """A ``--cfg-options`` value, read as mmengine's ``DictAction`` reads it: quotes around it and
    spaces dropped; ``(a,b)`` a tuple, ``[a,b]`` or ``a,b`` a list (nested brackets too); else an
    int, a float, true/false (any case), None, or the text itself."""
    text = text.strip("'\"").replace(" ", "")
    if len(text) >= 2 and text[0] + text[-1] in ("()", "[]"):
        items, as_tuple = text[1:-1], text[0] == "("
    elif "," in text:
        items, as_tuple = text, False
    else:
        return _scalar(text)
    if not _balanced(items):
        raise ValueError(f"unbalanced brackets in {items!r}")
    values = []
    while items:
        end = next((i for i, c in enumerate(items) if c == "," and _balanced(items[:i])), len(items))
        if items[:end] == text:  # a comma only inside unpaired brackets ("a[,b]"): mmengine recurses forever
            raise ValueError(f"cannot split {text!r} into items")
        values.append(parse_option_value(items[:end]))
        items = items[end + 1:]
    return tuple(values) if as_tuple else values


def _balanced(text: str) -> bool:
    return text.count("(") == text.count(")") and text.count("[") == text.count("]")


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return None if text in ("None", "null") else text  # mmengine's None; null as the docs and messages spell it


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
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            if last:
                node[int(key)] = value
            node = node[int(key)]
        elif isinstance(node, dict):
            node = _merge(node, {key: value}) if last else node.setdefault(key, {})
        else:
            what = (f"a list of {len(node)} (indices 0 to {len(node) - 1})" if isinstance(node, list) else
                    f"a {type(node).__name__}, not a dict")
            parent = ".".join(keys[:i]) or "the config"
            raise ConfigError(f"{_at(where)}--cfg-options {'.'.join(keys)}: {parent} is {what}")
