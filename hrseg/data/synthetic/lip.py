"""A synthetic human-parsing mini-split in LIP's release layout, for CPU training and CI.

Each image is one articulated figure of :mod:`hrseg.data.synthetic.pose` (and sometimes a ball,
box or sign) on a textured background. The figure is drawn part by part into a label map,
so its LIP parsing comes from the same pixels as the picture: torso and upper arms (shirt)
``upper-clothes``, forearms ``upper-clothes`` with long sleeves else ``left/right-arm``, hands
``left/right-arm``, thighs ``pants``, shins ``pants`` or, in shorts, ``left/right-leg``, feet
``left/right-shoe``, head and neck ``face``, hair ``hair``; everything else background. Left
and right are the figure's own (the sides of its keypoints), so a horizontal flip swaps them.
LIP's other classes (hat, glove, dress, ...) do not occur.

Layout under ``root`` (that of :class:`hrseg.data.seg.lip.LIPDataset`)::

    TrainVal_images/{train,val}_images/<id>.jpg, TrainVal_images/{train,val}_id.txt
    TrainVal_parsing_annotations/{train,val}_segmentations/<id>.png
    COMPLETE.json                  written last: the settings and counts

The same arguments give the same files; every file is written atomically (:mod:`.generate`).
"""
from __future__ import annotations

import os
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrseg.data.seg.lip import lip_paths
from hrseg.data.synthetic.body import FOOT, FOREARM, HAIR, HAND, HEAD, NECK, PART_BITS, SHIN, THIGH, TORSO, UPPER_ARM
from hrseg.data.synthetic.figures import Person
from hrseg.data.synthetic.generate import Progress, SyntheticSplits, check_counts, write_jpeg, to_stderr
from hrseg.data.synthetic.scenes import SceneParams, render_sample
from hrseg.meta.classes import LIP_CLASSES
from hrseg.utils.image_io import write_image
from hrseg.utils.io import atomic_path

__all__ = ["ensure_synthetic_lip", "generate_synthetic_lip", "lip_parsing", "part_classes"]

FORMAT_VERSION = 1
_C = {name: i for i, name in enumerate(LIP_CLASSES)}


def part_classes(person: Person) -> np.ndarray:
    """For one figure, the LIP class of each body part index (32 entries, 0 = background)."""
    table = np.zeros(1 << PART_BITS, np.uint8)
    pal = person.palette
    table[[TORSO, *UPPER_ARM]] = _C["upper-clothes"]
    table[[HEAD, NECK]] = _C["face"]
    table[HAIR] = _C["hair"]
    for side, name in enumerate(("left", "right")):
        arm, leg = _C[f"{name}-arm"], _C[f"{name}-leg"]
        table[FOREARM[side]] = _C["upper-clothes"] if pal.long_sleeves else arm
        table[HAND[side]] = arm
        table[THIGH[side]] = _C["pants"]
        table[SHIN[side]] = leg if pal.shorts else _C["pants"]
        table[FOOT[side]] = _C[f"{name}-shoe"]
    return table


def lip_parsing(labels: np.ndarray, entities: list[Any]) -> np.ndarray:
    """The uint8 LIP label map of a rendered scene (its ``entity << 5 | part`` label map)."""
    owner, part = labels >> PART_BITS, labels & ((1 << PART_BITS) - 1)
    out = np.zeros(labels.shape, np.uint8)
    for i, entity in enumerate(entities, 1):
        if isinstance(entity, Person):
            mask = owner == i
            out[mask] = part_classes(entity)[part[mask]]
    return out


def _params(size: tuple[int, int]) -> SceneParams:
    """One large figure per image, as LIP's person crops, and at most one distractor object."""
    return SceneParams(max_people=1, max_objects=1, min_person_height=0.6 * size[0],
                       max_person_fraction=0.97, truncation_prob=0.1, edge_prob=0.0)


def _name(split: str, index: int) -> str:
    return f"{split}_{index:06d}"


def _files(root: Path, split: str, count: int) -> list[Path]:
    paths = lip_paths(root, split)
    names = [_name(split, i) for i in range(count)]
    return [paths["ids"], *(paths["images"] / f"{n}.jpg" for n in names), *(paths["labels"] / f"{n}.png" for n in names)]


def _write_split(root: Path, size: tuple[int, int], seed: int, split: str, count: int, progress: Progress) -> None:
    paths, s = lip_paths(root, split), ("train", "val").index(split)
    names = [_name(split, i) for i in range(count)]
    for i, name in enumerate(names):
        rng = np.random.default_rng([seed, 7, s, i])  # per image: order-independent
        image, labels, entities = render_sample(rng, size, _params(size))
        write_jpeg(paths["images"] / f"{name}.jpg", image, 92)
        write_image(paths["labels"] / f"{name}.png", lip_parsing(labels, entities))
        progress(split, i + 1, count)
    with atomic_path(paths["ids"]) as tmp:
        tmp.write_text("".join(f"{n}\n" for n in names))


def _splits(root: str | os.PathLike, num_train: int, num_val: int, size: tuple[int, int], seed: int) -> SyntheticSplits:
    size = check_counts("synthetic_lip", num_train, num_val, size, 64)
    settings = {"num_train": int(num_train), "num_val": int(num_val), "size": list(size), "seed": int(seed),
                "scene": asdict(_params(size))}
    root = Path(root)
    return SyntheticSplits("synthetic_lip", root, FORMAT_VERSION, settings, {"train": int(num_train), "val": int(num_val)},
                           partial(_files, root), partial(_write_split, root, size, int(seed)))


def generate_synthetic_lip(root: str | os.PathLike, num_train: int = 300, num_val: int = 60,
                           size: tuple[int, int] = (192, 128), seed: int = 0, *, progress_every: int = 100,
                           log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Write the train and val splits under ``root`` (``size`` is (H, W)); returns the settings
    with ``root`` and ``seconds``. The marker is removed first and written last."""
    return _splits(root, num_train, num_val, size, seed).generate(log, progress_every)


def ensure_synthetic_lip(root: str | os.PathLike, num_train: int = 300, num_val: int = 60,
                         size: tuple[int, int] = (192, 128), seed: int = 0, *, progress_every: int = 100,
                         log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Generate the split unless a complete one with the same settings is already at ``root``."""
    return _splits(root, num_train, num_val, size, seed).ensure(log, progress_every)
