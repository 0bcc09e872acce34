"""Published weights by name: the table, the cache, and a loader for every layout they come in.

    import hrseg
    hrseg.list_weights()                                      # names of every published file
    model = hrseg.build_model("pose_hrnet_w32", weights="coco")          # a tag or a full name
    model = hrseg.build_model("seg_hrnetv2_w48", pretrained="imagenet")  # backbone only
    report = hrseg.weights.load_into(model, "path/or/name.pth")          # what mapped, what not

Names download once into the cache (:mod:`hrseg.weights.cache`); a path stays a path.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from hrseg.checkpoint import (
    LoadReport, checkpoint_meta, extract_state_dict, load_state, read_checkpoint, recorded_model,
)
from hrseg.errors import CheckpointError, ConfigError, missing_file
from hrseg.models import registry
from hrseg.weights.cache import cache_dir, checked, download, hrseg_home, sha256_of
from hrseg.weights.layouts import Converted, backbone_part, convert, detect_layout
from hrseg.weights.mmdet import apply_conventions as apply_mmdet_conventions
from hrseg.weights.record import WeightRecord, hash_in_name
from hrseg.weights.records import RECORDS
from hrseg.utils.safe_load import read_weights

log = logging.getLogger("hrseg")
_BY_NAME = {r.name: r for r in RECORDS}  # the one lookup of the table (tests point records at file:// URLs)
_FILE_SUFFIXES = (".pth", ".pt", ".tar", ".safetensors", ".bin", ".ckpt")
URL_SCHEMES = ("https://", "http://", "file://")

__all__ = [
    "WeightRecord",
    "apply_to_model",
    "build_model",
    "cache_dir",
    "detect_layout",
    "download",
    "get_weights",
    "hrseg_home",
    "identify",
    "list_weights",
    "load_checkpoint",
    "load_into",
    "model_meta",
    "read_weights",
    "record_held",
    "record_of",
    "resolve",
]


def list_weights(pattern: str = "", model: str | None = None) -> list[str]:
    """Names of the published checkpoints (containing ``pattern``; usable by ``model``, which must
    be a registered model name: another is a :class:`ConfigError` naming it)."""
    if model is not None and model not in registry.list_models():
        raise ConfigError(f"unknown model {model!r}; `hrseg models --names` lists them")
    return [r.name for r in _BY_NAME.values() if pattern in r.name and (model is None or _fits(r, model))]


def backbone_of(model: str) -> str | None:
    """The bare HRNet a named model is built on: ``seg_hrnetv2_ocr_w48`` -> ``hrnet_w48``."""
    m = re.search(r"w\d+(?:_small_v\d)?$", model)
    return f"hrnet_{m.group(0)}" if m else None


def _fits(record: WeightRecord, model: str) -> bool:
    return record.model == model or (record.task == "imagenet" and record.model == backbone_of(model))


def get_weights(name_or_tag: str, model: str | None = None) -> WeightRecord:
    """The record named ``name_or_tag``, or the one tagged so for ``model`` (``coco``, ``imagenet``)."""
    record = _BY_NAME.get(name_or_tag)
    if record is not None:
        if model is not None and not _fits(record, model):
            raise ConfigError(f"weights {record.name!r} are for {record.model}, not {model}")
        return record
    found = [r for r in _BY_NAME.values() if name_or_tag in r.tags and (model is None or _fits(r, model))]
    if len(found) == 1 or (found and model is not None):
        return found[0]
    usable = sorted({t for r in _BY_NAME.values() if model and _fits(r, model) for t in r.tags})
    tagged = [r.name for r in _BY_NAME.values() if name_or_tag in r.tags]
    close = difflib.get_close_matches(name_or_tag, list(_BY_NAME), n=3, cutoff=0.8)
    hint = (f"; tags for {model}: {', '.join(usable)}" if usable else
            f"; {model} has no published weights" if model else
            f"; several files have that tag, name one: {', '.join(tagged)}" if tagged else
            f"; did you mean {' or '.join(close)}?" if close else "")
    raise ConfigError(f"unknown weights {name_or_tag!r}{hint} (`hrseg weights list` lists them; in Python, "
                      "hrseg.list_weights())")


def _is_url(name_or_path: str | os.PathLike) -> bool:
    return isinstance(name_or_path, str) and name_or_path.startswith(URL_SCHEMES)


def _is_path(name_or_path: str | os.PathLike) -> bool:
    text = str(name_or_path)
    return (isinstance(name_or_path, Path) or os.sep in text or text.endswith(_FILE_SUFFIXES) or Path(text).exists()
            or _is_url(name_or_path))


def resolve(name_or_path: str | os.PathLike, model: str | None = None, progress: bool = True) -> Path:
    """A path as it is (it must exist); a URL: its file in the cache (:func:`fetch_url`); a
    published name or tag: its file in the cache, downloaded if absent."""
    if _is_url(name_or_path):
        return fetch_url(str(name_or_path), progress)
    if _is_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            known = _named(path) if not path.is_dir() else None  # a published file's name: say how to get it
            hint = f" (it is the published {known.name}: --weights {known.name} downloads it)" if known else ""
            raise CheckpointError(missing_file(path, "checkpoint file") + hint)
        return path
    record = get_weights(str(name_or_path), model)
    path = cache_dir() / record.filename
    if path.is_file():  # put there by a download, or by hand as the offline error says: hash-checked once
        return checked(path, record.sha256)
    log.info(f"downloading {record.name} from {record.url} to {path}")
    return download(record.url, path, record.sha256, progress)


def fetch_url(url: str, progress: bool = True) -> Path:
    """The file at ``url`` (``https://``, ``http://``, ``file://``: a checkpoint of another project,
    as mmpose and mmdetection users pass them) in the cache, ``urls/<hash of the URL>/<file name>``,
    downloaded once (atomically). A file name in torch.hub's or OpenMMLab's form (``name-<hex>.pth``,
    ``name-<hex>_<date>.pth``: :func:`hash_in_name`, the table's rule) carries the start of its
    SHA-256, which the download must match; other files are not checked (logged)."""
    name = Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise CheckpointError(f"{url}: the URL names no file")
    path = cache_dir() / "urls" / hashlib.sha256(url.encode()).hexdigest()[:12] / name
    prefix = hash_in_name(name)
    if path.is_file():
        return checked(path, prefix)
    log.info(f"downloading {url} to {path}")
    return download(url, path, prefix, progress)


def record_of(name_or_path: str | os.PathLike, model: str | None) -> WeightRecord | None:
    """The published record ``name_or_path`` names (None for a path to a file)."""
    return None if _is_path(name_or_path) else get_weights(str(name_or_path), model)


def record_held(path: str | os.PathLike, meta: Mapping[str, Any]) -> WeightRecord | None:
    """The published weights a checkpoint (its ``meta``) holds: those its ``meta.model`` names
    (:func:`hrseg.save_checkpoint` of a model built with ``weights=``), else, for a file that
    records no model, the record its name or content is (:func:`identify`); None for a trained
    hrseg checkpoint (it records its config)."""
    model = meta.get("model") if isinstance(meta.get("model"), Mapping) else {}
    if meta.get("config"):
        return None
    if model.get("weights"):
        with contextlib.suppress(ConfigError):  # weights this version does not publish: the file's own meta
            return record_of(str(model["weights"]), None)
    return None if model else identify(path)


def identify(path: str | os.PathLike, digest: str | None = None) -> WeightRecord | None:
    """The published record a file is, known by its file name or, where records carry one, the
    SHA-256 prefix of its content (a renamed download; ``digest`` when the caller has it); None for
    any other file. This is how an official file that records no model of its own is recognised:
    never by its tensors' shapes."""
    path = Path(path)
    record = _named(path)
    if record is not None or not any(r.sha256 for r in _BY_NAME.values()):
        return record
    digest = digest or sha256_of(path)
    return next((r for r in _BY_NAME.values() if r.sha256 and digest.startswith(r.sha256)), None)


def _named(path: Path) -> WeightRecord | None:
    """The published record whose file name ``path`` has (no hashing: cheap on every load)."""
    return next((r for r in _BY_NAME.values() if r.filename == path.name), None)


def set_align_corners(model: nn.Module, value: bool) -> bool:
    """Set ``align_corners`` on every part of ``model`` that interpolates bilinearly; True if any changed."""
    changed = False
    for m in model.modules():
        current = getattr(m, "align_corners", None)
        if isinstance(current, bool) and current != value:
            m.align_corners = value
            changed = True
    return changed


def load_into(model: nn.Module, name_or_path: str | os.PathLike, model_name: str | None = None,
              backbone_only: bool = False, strict: bool = True, record: WeightRecord | None = None,
              content: Mapping[str, Any] | None = None) -> LoadReport:
    """Load a published name or a file of any supported layout into ``model``.

    ``backbone_only`` keeps the HRNet part only (``pretrained=``). The report names the layout,
    what was converted, what was left out and what kept its initial values; ``align_corners``
    and mmdetection's anchor / RoIAlign conventions are set on the model as the weights were
    trained (``record``: the published file a path is, when :func:`identify` knew it; else the
    record whose file name the path has). With ``strict`` a backbone-only load (``backbone_only``,
    an ImageNet file) must still fill every key of the HRNet (:func:`hrseg.checkpoint.load_state`).
    ``content``: the file as :func:`read_weights` returned it, when the caller has read it already.
    A whole load sets ``model.meta`` (:func:`_set_meta`).
    """
    record = record or record_of(name_or_path, model_name)
    path = resolve(name_or_path, model_name)
    record = record or _named(path)
    content = content if content is not None else read_checkpoint(path)
    converted = convert(extract_state_dict(content, path), path=path)
    only_backbone = backbone_only or converted.layout == "imagenet"
    if backbone_only:
        converted = backbone_part(converted)
    report = load_state(model, converted.state, path, strict=strict, backbone_only=only_backbone, announce=False)
    report.left_out = converted.left_out + report.left_out
    report.notes = [f"layout {converted.layout}"] + converted.notes + report.notes
    if not backbone_only:
        _apply_conventions(model, converted, record, report)
    if not only_backbone:
        _set_meta(model, content, record)
    log.info(report.summary())
    return report


def model_meta(record: WeightRecord) -> dict[str, Any]:
    """``model.meta`` of ``record``'s model filled with its file, in the form of an hrseg checkpoint's
    ``meta.model`` (what the tasks read back): what the registered model expects
    (:func:`hrseg.models.registry.model_info`: task, input size, normalisation), then what the record
    says (:meth:`WeightRecord.model_meta`: input size, keypoints or classes, ...) and its name."""
    return {**registry.model_info(record.model).to_dict(), "model": record.model, "weights": record.name,
            **record.model_meta()}


def _set_meta(model: nn.Module, content: Mapping[str, Any], record: WeightRecord | None) -> None:
    """``model.meta`` after a whole load: the file's own (``meta.model`` of an hrseg checkpoint, as
    :func:`hrseg.save_checkpoint` writes it), else that of the published file it is; any other file
    leaves it as it was."""
    recorded = checkpoint_meta(content).get("model")
    if isinstance(recorded, Mapping) and isinstance(recorded.get("task"), str):
        model.meta = dict(recorded)
    elif record is not None and record.model in registry.list_models():
        model.meta = model_meta(record)


def load_checkpoint(model: nn.Module, path_or_name: str | os.PathLike, strict: bool = True,
                    ckpt: Mapping[str, Any] | None = None) -> LoadReport:
    """``hrseg.load_checkpoint``: a file of any layout :func:`build_model` reads (hrseg's own,
    the official HRNet files, timm, mmpose 0.x / 1.x, mmseg FCN / OCRNet, mmdetection; or a
    published name) loaded into ``model``, through :func:`load_into`, the one loader ``build_model(
    weights=...)`` uses too. An ImageNet file fills the backbone only. ``ckpt``: the file's content
    when the caller has read it already (so a file is read once). Returns what mapped and what not."""
    return load_into(model, path_or_name, strict=strict, content=ckpt)


def _apply_conventions(model: nn.Module, converted: Converted, record: WeightRecord | None,
                       report: LoadReport) -> None:
    align = record.meta.get("align_corners") if record else None
    align = converted.align_corners if align is None else align
    if align is not None and set_align_corners(model, align):
        report.notes.append(f"align_corners set to {align}, as the weights were trained")
    if converted.mmdet_conventions:
        report.notes += apply_mmdet_conventions(model)


def apply_to_model(model: nn.Module, name: str, weights: str | os.PathLike | None = None,
                   pretrained: str | os.PathLike | None = None) -> nn.Module:
    """What :func:`build_model` does after building: ``pretrained`` fills the backbone (ImageNet
    or any task file), then ``weights`` the whole model."""
    if pretrained:
        load_into(model, pretrained, name, backbone_only=True)
    if weights:
        load_into(model, weights, name)
    return model


def build_model(name: str, weights: str | os.PathLike | None = None, pretrained: str | os.PathLike | None = None,
                **overrides: Any) -> nn.Module:
    """``hrseg.build_model``: the registry's model (:func:`hrseg.models.build_model`, ``overrides``
    its options) with ``weights=`` (a tag such as ``"coco"``, a published name or a path: the whole
    model) and ``pretrained=`` (``"imagenet"``, a name or a path: the backbone only) loaded.
    Published ``weights`` (by name, or a file or URL with a record's file name) predicting other
    classes than the model's default (PASCAL-Context's 59, LIP's 20) build it with their
    ``num_classes`` (a pose file of other joints, MPII's 16, with its ``num_joints``, one of UDP's combined
    maps with its ``maps_per_joint``); an option that contradicts them is a :class:`ConfigError` naming both."""
    record = _record_for(weights, name) if weights else None
    for key, value in (record.model_options() if record is not None and record.model == name else {}).items():
        given = overrides.setdefault(key, value)
        if given != value:
            raise ConfigError(f"{name}: {key}={given!r}, but the weights {record.name!r} have {key} {value} "
                              f"({record.meta.get('classes') or record.meta.get('keypoints')}); leave {key} out")
    return apply_to_model(registry.build_model(name, **overrides), name, weights=weights, pretrained=pretrained)


def _record_for(weights: str | os.PathLike, model: str) -> WeightRecord | None:
    """The published record ``weights`` is: by name or tag, else by the file name of a path or URL
    (as :func:`load_into` knows it, without reading or hashing anything)."""
    return record_of(weights, model) or _named(Path(urllib.parse.urlparse(str(weights)).path))


def verify(path: str | os.PathLike) -> dict[str, object]:
    """What a file is: its SHA-256, the record it is (:func:`identify`: by file name or hash
    prefix) and whether the hash matches that record, its layout and tensor count, the model an
    hrseg checkpoint records. Reads it
    safely; a missing file, a folder or a damaged file is a :class:`CheckpointError` naming it."""
    path = Path(path)
    content = read_checkpoint(path)  # first: its errors name the file (not found, a folder, not a checkpoint, corrupt)
    digest = sha256_of(path)
    record = identify(path, digest)
    state = extract_state_dict(content, path)
    out: dict[str, object] = {"file": str(path), "sha256": digest, "layout": detect_layout(state),
                              "tensors": len(state), "record": record.name if record else None}
    if record is not None and record.sha256:
        out["hash_ok"] = digest.startswith(record.sha256)
    recorded = recorded_model(checkpoint_meta(content))
    if recorded:  # an hrseg checkpoint names its model (what hrseg export and --config need)
        out["model"] = recorded
    return out
