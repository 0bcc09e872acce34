"""Instance masks in COCO's three encodings: polygons (``[[x1, y1, x2, y2, ...], ...]``),
uncompressed RLE (``{'size': [h, w], 'counts': [ints]}``, as crowd regions are stored) and
compressed RLE (``counts`` a string, as results files and pycocotools write them).

Decoding goes through pycocotools (``frPyObjects`` / ``decode``), the same code the COCO
evaluation uses, so a mask here is pixel for pixel the mask ``COCOeval`` compares. A malformed
segmentation is a :class:`DataError` naming the file and the annotation, not a crash inside
pycocotools' C code.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
from pycocotools import mask as mask_utils

from hrseg.data.coco import is_numbers, shown
from hrseg.errors import DataError
from hrseg.utils.masks import decode_rle  # noqa: F401  (re-exported)

__all__ = ["check_segmentation", "decode_rle", "encode_mask", "instance_mask", "rle_counts", "segmentation_area",
           "to_rle"]


def check_segmentation(seg: Any, height: int, width: int, where: str) -> None:
    """Raise :class:`DataError` (prefixed ``where``) unless ``seg`` is a valid COCO segmentation
    of an ``height`` x ``width`` image: structural checks only (no mask is decoded), made so
    that pycocotools never sees what it would misread or crash on (a 4-number polygon is read as
    a box; a ``size`` missing, a ``counts`` of another type or run lengths not filling the image
    are a KeyError, an "input type is not supported" or a write past the mask in its C code)."""
    if isinstance(seg, list):
        if not seg:
            raise DataError(f"{where}: segmentation is an empty list of polygons")
        if is_numbers(seg):
            raise DataError(f"{where}: segmentation {shown(seg)} is one flat list of numbers; polygons are "
                            "a list of lists [[x1, y1, x2, y2, x3, y3, ...], ...]")
        for poly in seg:
            if not (isinstance(poly, list) and is_numbers(poly) and len(poly) >= 6 and len(poly) % 2 == 0):
                raise DataError(f"{where}: polygon {shown(poly)} is not [x1, y1, x2, y2, x3, y3, ...] "
                                "(at least 3 points, finite numbers)")
        return
    if not isinstance(seg, Mapping):
        raise DataError(f"{where}: segmentation must be polygons or an RLE {{'size', 'counts'}}, "
                        f"got {shown(seg)}")
    missing = [k for k in ("size", "counts") if k not in seg]
    if missing:
        raise DataError(f"{where}: RLE segmentation lacks {' and '.join(repr(k) for k in missing)} "
                        "(an RLE is {'size': [h, w], 'counts': ...})")
    size = seg["size"]
    if not (isinstance(size, (list, tuple)) and list(size) == [height, width]
            and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        raise DataError(f"{where}: RLE size {shown(size)} differs from the image's [{height}, {width}] (h, w)")
    runs = rle_counts(seg["counts"])
    if runs is None:
        raise DataError(f"{where}: RLE counts must be a compressed RLE string or a list of non-negative "
                        f"integers, got {shown(seg['counts'])}")
    if sum(runs) != height * width:
        raise DataError(f"{where}: RLE counts must be run lengths summing to h * w = {height * width} "
                        f"(they sum to {sum(runs)})")


def rle_counts(counts: Any) -> list[int] | None:
    """The run lengths of an RLE's ``counts``: a list of non-negative integers as it is, or a
    compressed string (or bytes) decoded as pycocotools' ``rleFrString`` does; None when it is
    neither."""
    if isinstance(counts, list):
        ok = set(map(type, counts)) <= {int} and min(counts, default=0) >= 0  # not bool: its type is bool
        return counts if ok else None
    if isinstance(counts, bytes):
        counts = counts.decode("latin-1")
    if not isinstance(counts, str):
        return None
    runs: list[int] = []
    p = 0
    while p < len(counts):
        x = k = 0
        more = True
        while more:
            c = ord(counts[p]) - 48 if p < len(counts) else -1
            if not 0 <= c < 64:
                return None  # a character outside the format's 64, or the string ends mid-number
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        runs.append(x + (runs[-2] if len(runs) > 2 else 0))
        if runs[-1] < 0:
            return None
    return runs


def segmentation_area(seg: Any) -> float:
    """The area of a checked segmentation (:func:`check_segmentation`) as COCO's files give it
    and detectron2 computes a missing one: the sum of the polygons' areas (shoelace; the
    official files' ``area``), or the pixels of an RLE (pycocotools' ``area``)."""
    if isinstance(seg, list):
        total = 0.0
        for poly in seg:
            x, y = np.asarray(poly[0::2], np.float64), np.asarray(poly[1::2], np.float64)
            total += 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
        return total
    return float(sum((rle_counts(seg["counts"]) or [])[1::2]))


def to_rle(seg: Any, height: int, width: int) -> dict[str, Any]:
    """Any COCO segmentation as one compressed RLE (polygons merged), ``counts`` as bytes."""
    if isinstance(seg, list):
        return mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    if isinstance(seg["counts"], list):
        return mask_utils.frPyObjects(dict(seg), height, width)
    counts = seg["counts"]
    return {"size": [int(v) for v in seg["size"]], "counts": counts.encode() if isinstance(counts, str) else counts}


def instance_mask(ann: Mapping[str, Any], height: int, width: int,
                  path: str | os.PathLike = "annotations") -> np.ndarray:
    """The (H, W) uint8 mask of a COCO annotation (polygons or RLE), checked first."""
    if "segmentation" not in ann:
        raise DataError(f"{path}: annotation id {ann.get('id')} has no segmentation (masks are needed "
                        "for a mask model)")
    where = f"{path}: annotation id {ann.get('id')}"
    check_segmentation(ann["segmentation"], height, width, where)
    return decode_rle(to_rle(ann["segmentation"], height, width))


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """An (H, W) binary mask as a JSON-ready compressed RLE: ``{'size': [h, w], 'counts': str}``."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
