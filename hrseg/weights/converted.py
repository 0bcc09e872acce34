"""A state dict converted to hrseg's keys (:class:`Converted`), and the key renaming every
layout converter uses; shared by :mod:`hrseg.weights.layouts` and :mod:`hrseg.weights.mmdet`."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch


@dataclass
class Converted:
    """A state dict in hrseg's keys, with what the conversion dropped and the conventions it implies."""

    layout: str
    state: dict[str, torch.Tensor]
    left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    align_corners: bool | None = None  # the value the weights were trained with, when the layout says
    mmdet_conventions: bool = False  # unrounded anchors, aligned RoIAlign (hrseg.weights.mmdet)


def rename_prefixes(state: Mapping[str, torch.Tensor], renames: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """Replace the longest matching key prefix of ``renames``; other keys stay."""
    order = sorted(renames, key=len, reverse=True)
    out = {}
    for key, value in state.items():
        src = next((p for p in order if key.startswith(p)), None)
        out[key if src is None else renames[src] + key[len(src):]] = value
    return out
