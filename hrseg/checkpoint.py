"""Loading and saving weights: hrseg's own checkpoints and the official HRNet layouts, as they are.

Accepted without a conversion step:
- hrseg checkpoints (``{'state_dict': ..., 'meta': ...}``, keys ``backbone.*``, ``head.*``);
- the official pose code's files (``pose_hrnet_w32_256x192.pth``: backbone keys at the top level,
  ``final_layer.*``), the official segmentation code's Cityscapes / PASCAL-Context files (keys
  under ``model.``, the loss's class weights under ``loss.``), the ImageNet classification files
  (``hrnetv2_w32_imagenet_pretrained.pth``, also timm's ``hrnet_w32`` layout);
- any of these wrapped in ``{'state_dict': ...}`` and/or with a ``module.`` prefix.

Files are always read with ``torch.load(..., weights_only=True)``: nothing is unpickled.
"""
from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from hrseg.errors import CheckpointError
from hrseg.utils.io import atomic_path
from hrseg.utils.safe_load import read_weights

log = logging.getLogger("hrseg")

# Keys of the ImageNet classification head, which no hrseg model has.
CLASSIFICATION_HEAD = ("incre_modules.", "downsamp_modules.", "final_layer.", "classifier.")
# Wrappers around a state dict: DataParallel/DDP, the official segmentation FullModel.
_WRAPPER_PREFIXES = ("module.", "model.")
# Entries of a checkpoint dict that may hold the weights.
_STATE_DICT_ENTRIES = ("state_dict", "model", "model_state", "net")
# Where a detector (hrseg's, or a converted mmdetection file) keeps its HRNetV2p: the HRNet and the V2p neck.
DETECTOR_HRNET, DETECTOR_NECK = "backbone.body.backbone.", "backbone.body.neck."


@dataclass
class LoadReport:
    """What :func:`hrseg.load_checkpoint` did: every model key is either loaded or left at init."""

    path: str
    loaded: int = 0
    left_out: list[str] = field(default_factory=list)  # checkpoint keys not used, by design
    not_loaded: list[str] = field(default_factory=list)  # model keys kept at their initial values
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.path}: loaded {self.loaded} tensors" + "".join(f"; {n}" for n in self.notes)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file safely (``weights_only=True``); errors name the file. One reader
    serves hrseg's own files and published ones: :func:`hrseg.utils.safe_load.read_weights`."""
    return read_weights(path)


def checkpoint_meta(content: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's ``meta`` (an hrseg checkpoint's ``config`` and ``model``), {} where it has none
    or not a mapping (another project's files put other things there)."""
    meta = content.get("meta")
    return dict(meta) if isinstance(meta, Mapping) else {}


def recorded_model(meta: Mapping[str, Any]) -> str | None:
    """The model name a checkpoint's ``meta`` records: its ``model`` section's, else its config's
    ``model.name``; None when it records none."""
    return (meta.get("model") or {}).get("model") or ((meta.get("config") or {}).get("model") or {}).get("name")


def extract_state_dict(ckpt: Mapping[str, Any], path: str | os.PathLike = "<checkpoint>") -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: unwrap ``state_dict``-style entries and strip wrapper prefixes."""
    state: Mapping[str, Any] = ckpt
    for entry in _STATE_DICT_ENTRIES:
        if isinstance(state.get(entry), Mapping):
            state = state[entry]
            break
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: no tensors found (looked at the top level and under {_STATE_DICT_ENTRIES})")
    for prefix in _WRAPPER_PREFIXES:
        # The official segmentation FullModel keeps its loss (class weights) beside the model.
        body = {k: v for k, v in tensors.items() if not k.startswith("loss.")}
        if body and all(k.startswith(prefix) for k in body):
            tensors = {k[len(prefix):]: v for k, v in body.items()}
    return tensors


def _group(keys: list[str], limit: int = 12) -> str:
    """Name keys compactly: grouped by module, e.g. 'stage4.2.fuse_layers.1.0 (6 keys)'."""
    groups = Counter(k.rsplit(".", 1)[0] if "." in k else k for k in keys)
    parts = [f"{g} ({n} keys)" if n > 1 else next(k for k in keys if k.startswith(g)) for g, n in groups.items()]
    more = f", ... and {len(parts) - limit} more modules" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def _aliases(model: nn.Module) -> list[tuple[str, str]]:
    """Where the keys of other models' checkpoints go in ``model`` (longest source prefix first):
    its own ``checkpoint_aliases``; a detector's HRNet wherever ``model`` has its HRNet, and the
    detector's V2p neck beside it (a bare HRNet, an HRNetV2p, a pose or segmentation backbone);
    a task checkpoint's ``backbone.`` into a bare backbone."""
    aliases = dict(getattr(model, "checkpoint_aliases", {}))
    hrnet = _backbone_prefix(model)
    aliases.setdefault(DETECTOR_HRNET, hrnet)
    if hrnet.endswith("backbone."):
        aliases.setdefault(DETECTOR_NECK, hrnet[:-len("backbone.")] + "neck.")
    if not any(k.startswith("backbone.") for k in model.state_dict()):
        aliases.setdefault("backbone.", "")  # a task checkpoint into a bare backbone
    return sorted(aliases.items(), key=lambda kv: -len(kv[0]))


def _map_keys(state: dict[str, torch.Tensor], model_keys: set[str],
              aliases: list[tuple[str, str]]) -> tuple[dict[str, torch.Tensor], list[str]]:
    mapped: dict[str, torch.Tensor] = {}
    unmatched: list[str] = []
    for key, value in state.items():
        target = key if key in model_keys else None
        if target is None:
            for src, dst in aliases:
                if key.startswith(src) and dst + key[len(src):] in model_keys:
                    target = dst + key[len(src):]
                    break
        if target is None:
            unmatched.append(key)
        else:
            mapped[target] = value
    return mapped, unmatched


def _backbone_prefix(model: nn.Module) -> str:
    """Where the model's HRNet lies among its keys: the module with HRNet's stem, first stage and
    first transition (``backbone.body.backbone.`` in a detector, whose ``backbone.body.neck`` is a
    representation head, ``backbone.`` in a pose or segmentation model, ``""`` for a bare HRNet)."""
    for name, module in model.named_modules():
        if all(hasattr(module, part) for part in ("conv1", "layer1", "transition1")):
            return f"{name}." if name else ""
    return "backbone." if hasattr(model, "backbone") else ""


_FUSE = re.compile(r"stage(\d+)\.(\d+)\.fuse_layers\.(\d+)\.")


def _lower_final_fusion(model_keys: list[str], prefix: str) -> list[str]:
    """The keys of the last module's fusion into its lower-resolution outputs, which a network
    fusing the highest resolution only (the official pose network, ``final_fusion='highest'``) lacks."""
    found = [(k, m) for k in model_keys if k.startswith(prefix) and (m := _FUSE.match(k[len(prefix):]))]
    if not found:
        return []
    last = max((int(m[1]), int(m[2])) for _, m in found)
    return [k for k, m in found if (int(m[1]), int(m[2])) == last and int(m[3]) > 0]


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike = "<state dict>",
               strict: bool = True, backbone_only: bool = False, announce: bool = True) -> LoadReport:
    """Load ``state`` (tensors in hrseg's keys, or the official ones they alias) into ``model``
    (``path`` names their source in messages); :func:`hrseg.load_checkpoint` converts the other
    layouts and comes here.

    A backbone-only source (an ImageNet classification file, or a task checkpoint loaded into a
    bare backbone) fills the backbone; the keys it left out and the model keys left at their
    initial values are named in one line each. ``backbone_only`` treats ``state`` so (the
    ``model.pretrained`` / ImageNet initialisation case): keys the model lacks are left out and
    the model's keys outside its HRNet (heads, V2p necks) keep their initial values, named in the
    report. With ``strict`` every key of the HRNet must be loaded all the same (the last module's
    fusion into the lower resolutions aside, which a highest-resolution-only source such as a
    pose file lacks): another variant or a file cut short is a :class:`CheckpointError` naming
    the missing keys. Otherwise, with ``strict``, every model key must be loaded and every
    checkpoint key used: the error names the missing and unexpected keys; a shape mismatch names
    the key and both shapes. ``announce``: log the report's line (False: the caller adds to it
    and logs it)."""
    state = dict(state)
    report = LoadReport(str(path))
    is_classification = any(k.startswith(("incre_modules.", "downsamp_modules.", "classifier.")) for k in state)
    if is_classification:
        report.left_out = [k for k in state if k.startswith(CLASSIFICATION_HEAD)]
        state = {k: v for k, v in state.items() if not k.startswith(CLASSIFICATION_HEAD)}
        report.notes.append(
            f"ImageNet classification checkpoint: left out its head ({len(report.left_out)} keys of "
            f"{', '.join(p.rstrip('.') for p in CLASSIFICATION_HEAD if any(k.startswith(p) for k in report.left_out))})"
        )

    model_state = model.state_dict()
    mapped, unexpected = _map_keys(state, set(model_state), _aliases(model))
    backbone_only = backbone_only or is_classification
    if unexpected and backbone_only:
        # e.g. the fusion outputs of the last module that the pose network does not compute
        report.left_out += unexpected
        report.notes.append(f"left out {len(unexpected)} backbone keys this model does not have: {_group(unexpected)}")
        unexpected = []
    if unexpected and hasattr(model, "out_strides"):
        # A bare backbone (HRNet, HRNetV2p) takes the backbone part of a task checkpoint; the head is left out.
        backbone_only = True
        report.left_out += unexpected
        report.notes.append(f"left out the task head's keys: {_group(unexpected)}")
        unexpected = []

    mismatched = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_state[k].shape)}"
                  for k, v in mapped.items() if v.shape != model_state[k].shape]
    if mismatched:
        raise CheckpointError(f"{path}: shape mismatch for {len(mismatched)} keys: " + "; ".join(mismatched[:10])
                              + (f"; ... and {len(mismatched) - 10} more" if len(mismatched) > 10 else ""))

    # BatchNorm's step counter is absent from checkpoints saved before PyTorch 0.4.1.
    missing = [k for k in model_state if k not in mapped and not k.endswith("num_batches_tracked")]
    in_backbone = 0
    if backbone_only:
        prefix = _backbone_prefix(model)
        head_keys = [k for k in missing if not k.startswith(prefix)]
        missing = [k for k in missing if k.startswith(prefix)]
        in_backbone = sum(k.startswith(prefix) and not k.endswith("num_batches_tracked") for k in model_state)
        if head_keys:
            report.not_loaded = head_keys
            report.notes.append(f"kept the initial values of {len(head_keys)} keys outside the backbone: "
                                f"{_group(head_keys)}")
        fusion = _lower_final_fusion([k for k in model_state if not k.endswith("num_batches_tracked")], prefix)
        if fusion and set(fusion) <= set(missing):  # the source fuses the highest resolution only
            missing = [k for k in missing if k not in fusion]
            report.not_loaded += fusion
            report.notes.append(f"kept the initial values of the last module's fusion into the lower resolutions "
                                f"({len(fusion)} keys), which the source network does not compute")
    if strict and (missing or unexpected):
        parts = []
        if missing and backbone_only:
            parts.append(f"missing {len(missing)} of its {in_backbone} backbone keys (another HRNet variant, or a "
                         f"file cut short?): {_group(missing)}")
        elif missing:
            parts.append(f"missing {len(missing)} keys: {_group(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} keys: {_group(unexpected)}")
        raise CheckpointError(f"{path}: does not fit {type(model).__name__}: " + "; ".join(parts))
    if missing:
        report.not_loaded += missing
        report.notes.append(f"not loaded (strict=False): {_group(missing)}")
    if unexpected:
        report.left_out += unexpected
        report.notes.append(f"ignored (strict=False): {_group(unexpected)}")

    model.load_state_dict(mapped, strict=False)
    report.loaded = len(mapped)
    if announce:  # a caller adding to the report (the layout it converted) logs it once, whole
        log.info(report.summary())
    return report


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **extra: Any) -> Path:
    """Write ``{'state_dict': ..., **extra}`` atomically; ``extra`` must be tensors or plain data
    so that :func:`read_checkpoint` can load it with ``weights_only=True``. Without a ``meta`` in
    ``extra``, the model's ``meta`` (what its published weights or its checkpoint said: task, input
    size, normalisation, keypoints or classes) is written as ``meta.model``, where hrseg's own
    checkpoints record it and loading reads it back (:func:`hrseg.load_checkpoint` sets ``model.meta``)."""
    target = getattr(model, "module", model)  # unwrap DataParallel / DDP
    if "meta" not in extra and getattr(target, "meta", None):
        extra["meta"] = {"model": dict(target.meta)}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": target.state_dict(), **extra}, tmp)
    return Path(path)
