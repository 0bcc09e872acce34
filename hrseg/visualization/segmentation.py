"""Segmentation outputs for people: the label map, a colourised mask in the dataset's palette
and an overlay on the photograph, written atomically as PNG files."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hrseg.data.seg_labels import (
    CITYSCAPES_PALETTE, PASCAL_CONTEXT_59_PALETTE, PASCAL_CONTEXT_60_PALETTE, colorize, make_palette, overlay,
)
from hrseg.data.image_io import write_image
from hrseg.errors import ConfigError

PALETTES = ("cityscapes", "pascal_context", "generated")


def palette_for(name: str, num_classes: int) -> np.ndarray:
    """The (num_classes, 3) uint8 palette called ``name``: ``cityscapes`` (19 classes),
    ``pascal_context`` (59 without background, 60 with) or ``generated`` (any number)."""
    if name == "cityscapes":
        pal = CITYSCAPES_PALETTE
    elif name == "pascal_context":
        pal = PASCAL_CONTEXT_60_PALETTE if num_classes == 60 else PASCAL_CONTEXT_59_PALETTE
    elif name == "generated":
        return make_palette(num_classes)
    else:
        raise ConfigError(f"unknown palette {name!r}; choose one of {', '.join(PALETTES)}")
    if num_classes > len(pal):
        raise ConfigError(f"the {name} palette has {len(pal)} colours, the model predicts {num_classes} classes")
    return pal


def write_segmentation(out_dir: str | os.PathLike, stem: str, image: np.ndarray, labels: np.ndarray,
                       palette: np.ndarray, alpha: float = 0.5) -> dict[str, Path]:
    """Write ``<stem>_labels.png`` (class indices, 8-bit or 16-bit grey), ``<stem>_color.png``
    and ``<stem>_overlay.png`` under ``out_dir``; returns their paths."""
    out = Path(out_dir)
    files = {"labels": out / f"{stem}_labels.png", "color": out / f"{stem}_color.png",
             "overlay": out / f"{stem}_overlay.png"}
    write_image(files["labels"], labels)
    write_image(files["color"], colorize(labels, palette))
    write_image(files["overlay"], overlay(image, labels, palette, alpha))
    return files
