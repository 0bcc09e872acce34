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

from hrseg.errors import DataError
from hrseg.utils.masks import decode_rle  # noqa: F401  (re-exported)

__all__ = ["check_segmentation", "decode_rle", "encode_mask", "instance_mask", "to_rle"]


def check_segmentation(seg: Any, height: int, width: int, where: str) -> None:
    """Raise :class:`DataError` (prefixed ``where``) unless ``seg`` is a valid COCO segmentation
    of an ``height`` x ``width`` image."""
    if isinstance(seg, list):
        if not seg:
            raise DataError(f"{where}: segmentation is an empty list of polygons")
        for poly in seg:
            ok = isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in poly)
            if not ok:
                raise DataError(f"{where}: polygon {str(poly)[:60]} is not [x1, y1, x2, y2, x3, y3, ...] "
                                "(at least 3 points, finite numbers)")
        return
    if isinstance(seg, Mapping) and "size" in seg and "counts" in seg:
        size = seg["size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and [int(v) for v in size] == [height, width]):
            raise DataError(f"{where}: RLE size {size} differs from the image's [{height}, {width}] (h, w)")
        counts = seg["counts"]
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
                raise DataError(f"{where}: uncompressed RLE counts must be non-negative integers summing "
                                f"to h * w = {height * width}")
        elif not isinstance(counts, (str, bytes)):
            raise DataError(f"{where}: RLE counts must be a string (compressed) or a list of integers")
        return
    raise DataError(f"{where}: segmentation must be polygons or an RLE {{'size', 'counts'}}, "
                    f"got {str(seg)[:60]}")


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
