"""Segmentation outputs for people: the label map, a colourised mask in the dataset's palette
and an overlay on the photograph, written atomically as PNG files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hrseg.meta.classes import (
    ADE20K_PALETTE, CITYSCAPES_PALETTE, COCO_STUFF_PALETTE, IGNORE_INDEX, LIP_PALETTE, PASCAL_CONTEXT_59_PALETTE,
    PASCAL_CONTEXT_60_PALETTE, VOC_PALETTE, make_palette,
)
from hrseg.utils.image_io import write_image
from hrseg.errors import ConfigError

PALETTES = ("cityscapes", "pascal_context", "ade20k", "voc", "cocostuff", "lip", "generated")
_FIXED = {"cityscapes": CITYSCAPES_PALETTE, "ade20k": ADE20K_PALETTE, "voc": VOC_PALETTE,
          "cocostuff": COCO_STUFF_PALETTE, "lip": LIP_PALETTE}


def palette_for(name: str, num_classes: int) -> np.ndarray:
    """The (num_classes, 3) uint8 palette called ``name``: ``cityscapes`` (19 classes),
    ``pascal_context`` (59 without background, 60 with), ``ade20k`` (150), ``voc`` (21), ``cocostuff`` (171),
    ``lip`` (20) or ``generated`` (any number)."""
    if name in _FIXED:
        pal = _FIXED[name]
    elif name == "pascal_context":
        pal = PASCAL_CONTEXT_60_PALETTE if num_classes == 60 else PASCAL_CONTEXT_59_PALETTE
    elif name == "generated":
        return make_palette(num_classes)
    else:
        raise ConfigError(f"unknown palette {name!r}; choose one of {', '.join(PALETTES)}")
    if num_classes > len(pal):
        raise ConfigError(f"the {name} palette has {len(pal)} colours, the model predicts {num_classes} classes")
    return pal


def write_segmentation(out_dir: str | os.PathLike, stem: str, labels: np.ndarray, palette: np.ndarray,
                       overlaid: np.ndarray) -> dict[str, Path]:
    """Write ``<stem>_labels.png`` (class indices, 8-bit or 16-bit grey), ``<stem>_color.png``
    and ``<stem>_overlay.png`` (``overlaid``: the predictor's drawing) under ``out_dir``;
    returns their paths."""
    out = Path(out_dir)
    files = {"labels": out / f"{stem}_labels.png", "color": out / f"{stem}_color.png",
             "overlay": out / f"{stem}_overlay.png"}
    write_image(files["labels"], labels)
    write_image(files["color"], colorize(labels, palette))
    write_image(files["overlay"], overlaid)
    return files


def _present_values(label: np.ndarray) -> np.ndarray:
    """The distinct values of an integer label map (counting for 8/16-bit maps: no sort)."""
    if label.dtype in (np.uint8, np.uint16):
        return np.flatnonzero(np.bincount(label.ravel()))
    return np.unique(label)


def colorize(label_map: np.ndarray, palette: np.ndarray | Sequence[Sequence[int]],
             ignore_index: int = IGNORE_INDEX,
             ignore_color: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """RGB uint8 image (H, W, 3) of a class-index map; ``ignore_index`` pixels get ``ignore_color``.

    A uint8/uint16 map indexes the colour table directly (no int64 copy of a large map)."""
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    label = np.asarray(label_map)
    if label.ndim != 2:
        raise ValueError(f"colorize: expected an (H, W) label map, got shape {label.shape}")
    if label.dtype.kind not in "ui":
        raise ValueError(f"colorize: expected an integer label map, got dtype {label.dtype}")
    values = _present_values(label)
    bad = values[(values != ignore_index) & ((values < 0) | (values >= len(pal)))]
    if bad.size:
        raise ValueError(f"colorize: label values {bad[:10].tolist()} have no "
                         f"colour in a palette of {len(pal)} classes")
    size = max(len(pal), ignore_index + 1, int(values.max()) + 1 if values.size else 0)
    table = np.zeros((size, 3), dtype=np.uint8)
    table[: len(pal)] = pal
    if 0 <= ignore_index < size:
        table[ignore_index] = ignore_color
    if label.dtype.kind == "i":
        label = label.astype(np.int64)
    return table[label]


def overlay(image: np.ndarray, label_map: np.ndarray, palette: np.ndarray | Sequence[Sequence[int]],
            alpha: float = 0.5, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Blend the coloured label map over an RGB uint8 image; ignored pixels show the image only.

    uint8 arithmetic throughout (OpenCV's rounding blend), so a large photograph needs only a
    few uint8 copies of itself."""
    import cv2

    image = np.asarray(image)
    if image.shape[:2] != np.shape(label_map)[:2] or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay: image {image.shape} and label map {np.shape(label_map)} "
                         "must be (H, W, 3) and (H, W)")
    image = np.ascontiguousarray(image, dtype=np.uint8)
    blended = cv2.addWeighted(image, 1.0 - alpha, colorize(label_map, palette, ignore_index), alpha, 0.0)
    ignored = np.asarray(label_map) == ignore_index
    if ignored.any():
        blended[ignored] = image[ignored]
    return blended
