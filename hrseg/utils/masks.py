"""COCO run-length encoded masks, decoded where data, evaluation and drawing all read them."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from pycocotools import mask as mask_utils


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """A compressed RLE (``counts`` str or bytes) as an (H, W) uint8 0/1 mask."""
    counts = rle["counts"]
    return mask_utils.decode({"size": list(rle["size"]),
                              "counts": counts.encode() if isinstance(counts, str) else counts})
