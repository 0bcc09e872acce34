"""The config schema: the defaults' keys and kinds, and what the defaults cannot say (ranges, words,
keys that take None). :class:`Schema` checks a config and each ``--cfg-options`` key against it
(:func:`hrseg.config.load_config`)."""
from __future__ import annotations

import difflib
import math
import reprlib
from numbers import Integral, Real
from typing import Any, Iterable, Mapping, Sequence

from hrseg.errors import ConfigError

# What the defaults cannot say (Schema.check_value). NULLABLE_KEYS: keys that take None (off, automatic);
# test keys also where a checkpoint's recorded config, not None, is the schema (Task.load_model).
NULLABLE_KEYS = frozenset("seed train.grad_clip train.best_metric test.oks_thr test.track.reid_thr test.stride "
                          "test.track.look_gate test.track.swap_margin test.backend test.base_size test.short_size "
                          "test.protocol data.short_size train.max_iters "
                          "test.protocol_dataset test.blur_kernel data.train.det_file data.val.det_file "
                          "data.train.keypoint_file "
                          "data.val.keypoint_file data.train.semantic_dir data.val.semantic_dir".split())
REAL_KEYS = frozenset({"data.augment.rotation_factor"})  # an int default (45 degrees) that takes any number
# None by default (off, the config's, derived), else of this kind
NONE_DEFAULT_KINDS = {"seed": 0, "train.grad_clip": 0.0, "test.blur_kernel": 0, "test.short_size": 0,
                      "data.short_size": 0, "train.max_iters": 0}
PAIR_KEYS = frozenset({"data.input_size", "data.heatmap_size", "data.crop_size", "test.crop_size",  # two values
                       "data.scale_range", "optimizer.betas"})
# Keys of several kinds checked where used: hrseg.engine.speed.check_speed, progressive's [first, last] or one number
CHECKED_WHERE_USED = frozenset({"train.amp_dtype", "train.prefetch_factor", "progressive.dropout",
                                "progressive.drop_path", "progressive.randaugment", "progressive.mixup"})
# The numbers a key takes (every number of a list): ">= N", "> N", or "A..B" (both ends included)
VALUE_RANGES: dict[str, str] = {
    "data.batch_size": ">= 1", "data.val_batch_size": ">= 1", "data.num_workers": ">= 0", "data.base_size": ">= 1",
    "test.short_size": ">= 1", "data.short_size": ">= 1", "train.max_iters": ">= 1",
    "data.input_size": ">= 1", "data.heatmap_size": ">= 1", "data.crop_size": ">= 1", "test.crop_size": ">= 1",
    "data.sigma": "> 0", "data.scale_range": "> 0", "test.scales": "> 0", "data.flip_prob": "0..1",
    "data.augment.flip_prob": "0..1", "data.augment.rotation_prob": "0..1", "data.augment.half_body_prob": "0..1",
    "train.max_epochs": ">= 1", "train.eval_interval": ">= 1", "train.save_every": ">= 0", "optimizer.lr": ">= 0",
    "optimizer.weight_decay": ">= 0", "schedule.milestones": ">= 0", "schedule.warmup_iters": ">= 0",
    "progressive.num_stages": ">= 1", "progressive.size_divisor": ">= 1", "loss.topk": ">= 1",
    "test.window_batch": ">= 1", "test.max_whole_pixels": ">= 0", "train.grad_clip": "> 0", "seed": "0..4294967295",
    "schedule.gamma": "> 0", "schedule.power": ">= 0", "schedule.min_lr": ">= 0", "schedule.warmup_ratio": "0..1",
    "optimizer.head_lr_mult": ">= 0", "optimizer.bias_lr_mult": ">= 0", "optimizer.bias_decay_mult": ">= 0",
    "optimizer.norm_decay_mult": ">= 0", "optimizer.dwconv_decay_mult": ">= 0", "optimizer.momentum": ">= 0",
    "optimizer.eps": ">= 0", "optimizer.betas": "0..1", "train.log_interval": ">= 1", "test.blur_kernel": ">= 1"}
# The words a string key takes
KEY_CHOICES: dict[str, tuple[str, ...]] = {"train.best_mode": ("max", "min")}
_SCALARS = [(bool, "true or false", "true/false values"), (Integral, "an integer", "integers"),  # True is an int
            (Real, "a number", "numbers"), (str, "a string", "strings"), (Mapping, "a dict", "dicts"),
            (object, "anything", "values")]


class Schema:
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

    def check(self, cfg: Mapping[str, Any], where: str, prefix: Sequence[str] = (), sep: str = ": ") -> None:
        """A ConfigError for a key of ``cfg`` (the section at ``prefix``) or its value; ``where``: its source."""
        known = self._children(list(prefix))
        for key, value in cfg.items():
            if known is not None and key not in known:
                self._unknown([*prefix, key], known, where)
            self.check_value([*prefix, key], value, where, sep)

    def check_key(self, dotted: str, value: Any, where: str, sep: str = ": ") -> None:
        """:meth:`check` for one ``--cfg-options`` key, ``a.b.c`` (a digit indexes a list)."""
        keys = dotted.split(".")
        for i in range(len(keys)):  # below an open section or a non-dict, _children is None
            known = self._children(keys[:i])
            if known is not None and keys[i] not in known:
                self._unknown(keys[:i + 1], known, where)
        self.check_value(keys, value, where, sep)

    def check_value(self, keys: list[str], value: Any, where: str, sep: str = ": ") -> None:
        """A ConfigError unless ``value`` has its default's kind: a bool default takes true or false only (not 'off',
        'no', 'none', 1); an int default integers, not 2.0 (counts are not rounded; REAL_KEYS excepted); a float
        default any number; a str default strings; a list or tuple default lists or tuples of its items' kind
        (numbers if one is a float; two for PAIR_KEYS); a dict default dicts, key by key. A None default (but
        NONE_DEFAULT_KINDS'), keys of open sections and CHECKED_WHERE_USED take anything, NULLABLE_KEYS None."""
        dotted, name = ".".join(map(str, keys)), ".".join(k for k in map(str, keys) if not k.isdigit())  # no index
        default: Any = self.defaults
        for key in map(str, keys):
            listed = isinstance(default, (list, tuple)) and key.isdigit() and int(key) < len(default)
            default = default[int(key)] if listed else default.get(key) if isinstance(default, Mapping) else None
        default = NONE_DEFAULT_KINDS.get(name) if default is None else default
        if default is None or name in CHECKED_WHERE_USED or (value is None and name in NULLABLE_KEYS):
            return
        if isinstance(default, Mapping) and isinstance(value, Mapping):
            self.check(value, where, keys, sep)
        elif not (verdict := _expected(value, default, name, VALUE_RANGES.get(name)))[0]:
            raise ConfigError(f"{where}{sep}{dotted}: expected {verdict[1]}, got {reprlib.repr(value)}")
        elif name in KEY_CHOICES and value not in KEY_CHOICES[name]:
            choices = " or ".join(repr(c) for c in KEY_CHOICES[name])
            raise ConfigError(f"{where}{sep}{dotted}: expected {choices}, got {reprlib.repr(value)}")

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


def _expected(value: Any, default: Any, name: str = "", spec: str | None = None) -> tuple[bool, str]:
    """Whether ``value`` may replace ``default`` (Schema.check_value), and what may; ``spec``: VALUE_RANGES'."""
    bounds = "" if spec is None else f" in [{spec.replace('..', ', ')}]" if ".." in spec else f" {spec}"
    if isinstance(default, (list, tuple)):
        item = next((d for d in default if isinstance(d, float)), default[0]) if default else None
        fits = isinstance(value, (list, tuple)) and (name not in PAIR_KEYS or len(value) == 2)
        fits = fits and (item is None or all(_expected(v, item, spec=spec)[0] for v in value))
        many = next(many for cls, _, many in _SCALARS if isinstance(item, cls))
        return fits, (f"two {many}" if name in PAIR_KEYS else f"a list of {many}") + bounds
    cls, one = next((cls, one) for cls, one, _ in _SCALARS if isinstance(0.0 if name in REAL_KEYS else default, cls))
    fits = isinstance(value, cls) and (cls in (bool, object) or not isinstance(value, bool))
    if fits and cls is Real and not math.isfinite(value):  # inf or nan: no config number means that
        return False, "a finite number" + bounds
    if fits and spec is not None:  # ">= N", "> N" or "A..B"
        low, dots, high = spec.partition("..")
        bound = float(high if dots else spec.lstrip(">="))
        fits = float(low) <= value <= bound if dots else value >= bound if spec[1] == "=" else value > bound
    return fits, one + bounds
