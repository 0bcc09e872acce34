"""LIP (Look Into Person) human parsing, in the layout of the release archives::

    TrainVal_images/{train,val}_images/<id>.jpg
    TrainVal_parsing_annotations/{train,val}_segmentations/<id>.png   values 0..19
    TrainVal_images/{train,val}_id.txt                                 one <id> a line

(the id lists are also found directly under the root). Labels are the 20 classes of
:data:`hrseg.meta.classes.LIP_CLASSES`, 0 being background (trained and evaluated, as the
official HRNet code does) and 255 ignored. A horizontal flip must swap the left/right classes:
:data:`LIP_FLIP_PAIRS` go to :class:`~hrseg.data.seg.transforms.SegTrainTransform` and to the
flip test (``test.flip_pairs``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hrseg.data.seg.datasets import SegDataset, SegTransform, _check_values
from hrseg.errors import DataError
from hrseg.meta.classes import LIP_CLASSES, LIP_FLIP_PAIRS, LIP_PALETTE

__all__ = ["LIPDataset", "LIP_FLIP_PAIRS", "lip_paths"]


def lip_paths(root: str | os.PathLike, split: str) -> dict[str, Path]:
    """Where a split's images, parsing annotations and id list live (the id list under
    ``TrainVal_images`` as released; :class:`LIPDataset` also accepts it under the root)."""
    r = Path(root)
    return {"images": r / "TrainVal_images" / f"{split}_images",
            "labels": r / "TrainVal_parsing_annotations" / f"{split}_segmentations",
            "ids": r / "TrainVal_images" / f"{split}_id.txt"}


class LIPDataset(SegDataset):
    """The ``train`` or ``val`` split of LIP's parsing annotations (see the module docstring)."""

    flip_pairs = LIP_FLIP_PAIRS

    def __init__(self, root: str | os.PathLike, split: str = "train", transform: SegTransform | None = None,
                 seed: int = 0) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"LIP has the splits 'train' and 'val', not {split!r}")
        paths = lip_paths(root, split)
        id_file = paths["ids"] if paths["ids"].is_file() else Path(root) / f"{split}_id.txt"
        if not id_file.is_file():
            raise DataError(f"{paths['ids']}: LIP id list not found (nor {id_file})")
        ids = [line.strip() for line in id_file.read_text().splitlines() if line.strip()]
        if not ids:
            raise DataError(f"{id_file}: id list is empty")
        samples = [(paths["images"] / f"{i}.jpg", paths["labels"] / f"{i}.png") for i in ids]
        missing = [str(p) for pair in samples for p in pair if not p.is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DataError(f"{id_file}: listed files not found: {', '.join(missing[:3])}{more}")
        super().__init__(samples, LIP_CLASSES, LIP_PALETTE, transform, seed)

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        _check_values(raw, len(LIP_CLASSES) - 1, path, "expected LIP's classes 0 (background) .. 19")
        return raw.astype(np.int64)
