"""Synthetic street scenes in the Cityscapes layout, for segmentation training and CI without
the real dataset.

A scene is a street seen from a car: a pinhole camera at 1.2-1.6 m looks down a straight street.
The static scene is ray-cast per pixel against four planes (the ground, the two facade planes,
an optional wall closing the street), so road, lane markings, sidewalk tiles, facades, windows
and hedges are in correct perspective and converge to the vanishing point; the sky fills what no
ray hits. Objects standing on the ground (trees, street lights, traffic signs, cars as 3D boxes,
people, bins) are then drawn far to near at the size their depth gives. Each shape goes into
the image (anti-aliased) and with its Cityscapes labelId into the label map, so labels are exact.

Classes are learnable from position, shape and texture, not from one colour: colours of road,
sidewalk, facades, cars and clothes are random and overlap, the sky may be blue, grey or orange,
and light, haze, shadows, noise and blur vary per image.

Labels are real Cityscapes labelIds: road 7, sidewalk 8, building 11, pole 17, traffic sign 20,
vegetation 21, sky 23, person 24, car 26, and 0 (unlabeled) for the few bins and boxes.

Modules: :mod:`.street` (camera, static street, textures), :mod:`.objects` (what stands in it);
this one renders a scene (:func:`render_street`) and writes the dataset
(:mod:`hrseg.data.synthetic.generate`).

Output layout under ``root`` (loads with :class:`hrseg.data.seg.datasets.CityscapesDataset`)::

    leftImg8bit/{train,val}/synth/synth_000000_<index>_leftImg8bit.png
    gtFine/{train,val}/synth/synth_000000_<index>_gtFine_labelIds.png
    COMPLETE.json      written last: the config

Images are independent of each other (seeded by seed, split and index) and byte-identical for
the same arguments.
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from hrseg.data.synthetic.canvas import Canvas
from hrseg.data.synthetic.generate import MARKER_NAME, SPLITS, Progress, SyntheticSplits, check_counts, to_stderr
from hrseg.data.synthetic.streets.objects import place_objects
from hrseg.data.synthetic.streets.street import (
    BUILDING, CAR, FAR, PERSON, POLE, ROAD, SIDEWALK, SIGN, SKY, UNLABELED, VEGETATION, render_background,
    sample_street,
)
from hrseg.utils.image_io import write_image

__all__ = ["BUILDING", "CAR", "CITY", "MARKER_NAME", "PERSON", "POLE", "ROAD", "SIDEWALK", "SIGN", "SKY",
           "UNLABELED", "VEGETATION", "ensure_synthetic_streets", "generate_synthetic_streets", "render_street",
           "sample_paths"]

CITY = "synth"
FORMAT_VERSION = 1


def render_street(rng: np.random.Generator, size: tuple[int, int],
                  furniture: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (uint8 RGB image (H, W, 3), uint8 Cityscapes labelIds (H, W)); ``furniture``:
    street lights and traffic signs (poles, signs) besides the seven main classes."""
    h, w = size
    street = sample_street(rng, size)
    canvas = Canvas(np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.uint8), np.full((h, w), FAR, np.float32),
                    pixel_centre=0.5)  # the camera puts pixel centres at +0.5
    haze = render_background(rng, street, canvas)
    cam = street.cam
    z_near = cam.f * cam.height / max(h - cam.cy, 1.0)  # ground depth at the bottom row
    items = place_objects(rng, street, z_near, furniture)
    for item in sorted(items, key=lambda item: -item.z):  # far to near
        item.draw(canvas, cam, rng, item.x, item.z, **item.extra)
    # light: haze with distance, global gain and tint, then sensor noise and blur
    img = canvas.image.astype(np.float32)
    fog = 1 - np.exp(-canvas.depth / rng.uniform(150, 700))
    img += (haze.astype(np.float32) - img) * fog[..., None] * 0.8
    img = img * rng.uniform(0.75, 1.2) * rng.uniform(0.93, 1.07, 3).astype(np.float32)
    img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.85, 1.15)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.35, 0.7))
    img += rng.normal(0, rng.uniform(1.5, 5.0), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).round().astype(np.uint8), canvas.labels.copy()



def _stem(index: int) -> str:
    return f"{CITY}_000000_{index:06d}"


def sample_paths(root: Path, split: str, index: int) -> tuple[Path, Path]:
    """(image, labelIds) paths of one sample, as Cityscapes names them."""
    stem = _stem(index)
    return (root / "leftImg8bit" / split / CITY / f"{stem}_leftImg8bit.png",
            root / "gtFine" / split / CITY / f"{stem}_gtFine_labelIds.png")


def _files(root: Path, split: str, count: int) -> list[Path]:
    return [p for i in range(count) for p in sample_paths(root, split, i)]


def _write_split(root: Path, size: tuple[int, int], seed: int, furniture: bool, split: str, count: int,
                 progress: Progress) -> None:
    for i in range(count):
        rng = np.random.default_rng([seed, SPLITS.index(split), i])
        image, label = render_street(rng, size, furniture)
        image_path, label_path = sample_paths(root, split, i)
        write_image(image_path, image)
        write_image(label_path, label)
        progress(split, i + 1, count)


def _splits(root: str | os.PathLike, num_train: int, num_val: int, size: tuple[int, int], seed: int,
            furniture: bool) -> SyntheticSplits:
    hw = check_counts("synthetic_streets", num_train, num_val, size, 32)
    settings = {"num_train": int(num_train), "num_val": int(num_val), "size": list(hw), "seed": int(seed),
                "furniture": bool(furniture)}
    root = Path(root)
    return SyntheticSplits("synthetic_streets", root, FORMAT_VERSION, settings,
                           {"train": int(num_train), "val": int(num_val)}, partial(_files, root),
                           partial(_write_split, root, hw, int(seed), bool(furniture)))


def generate_synthetic_streets(root: str | os.PathLike, num_train: int = 200, num_val: int = 50,
                               size: tuple[int, int] = (128, 256), seed: int = 0, furniture: bool = True, *,
                               progress_every: int = 50,
                               log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Write the train and val splits under ``root``; returns the config with ``root`` and ``seconds``.

    ``size`` is (height, width). The completion marker is removed first and written last.
    """
    return _splits(root, num_train, num_val, size, seed, furniture).generate(log, progress_every)


def ensure_synthetic_streets(root: str | os.PathLike, num_train: int = 200, num_val: int = 50,
                             size: tuple[int, int] = (128, 256), seed: int = 0, furniture: bool = True, *,
                             progress_every: int = 50,
                             log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Generate the dataset unless a complete one with the same settings is already at ``root``."""
    return _splits(root, num_train, num_val, size, seed, furniture).ensure(log, progress_every)
