"""Synthetic COCO-format person-keypoint mini-splits, for training and CI without real data.

Each image shows 1 to ``max_people`` articulated figures (:mod:`.figures`, :mod:`.body`) and a
few distractor objects (balls, boxes, signs, :mod:`.objects`) on a textured background
(:mod:`.scenes`); a figure is posed by a seeded ``numpy.random.Generator``, turned about the
vertical axis (front, profile and back views), rolled in the image plane, projected
orthographically and drawn part by part from far to near. Every part is also drawn into a label
map, from which the COCO annotations are read (:mod:`.annotate`): keypoint visibility, boxes,
areas and polygons describe what the picture shows.

The keypoints are the 17 COCO joints by default; ``keypoints`` (a
:class:`~hrseg.meta.keypoints.KeypointSet`) with ``keypoint_sources`` (the body point each is
read from, :data:`~hrseg.data.synthetic.body.POINT_PARTS`) gives any other set of the figure's
points under any names, written as the person category's keypoints and skeleton.

Output layout under ``root``::

    images/{train,val}/<12-digit id>.jpg
    annotations/person_keypoints_{train,val}.json   COCO person_keypoints
    annotations/instances_{train,val}.json          COCO instances: person, ball, box, sign
    COMPLETE.json                                   written last: the config and counts

Everything is written atomically (:mod:`.generate`); the same arguments give byte-identical files.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hrseg.data.synthetic.annotate import (
    ANNS_PER_IMAGE, INSTANCE_CATEGORIES, annotate, coco_files, keypoint_sources, person_category, split_stats,
)
from hrseg.data.synthetic.body import Pose, sample_pose
from hrseg.data.synthetic.figures import Person, sample_palette
from hrseg.data.synthetic.generate import (MARKER_NAME, SPLITS, Progress, SyntheticSplits, check_counts, to_stderr,
                                           write_jpeg)
from hrseg.data.synthetic.objects import SceneObject, make_box
from hrseg.data.synthetic.scenes import SceneParams, render_sample, render_scene, sample_person, sample_scene
from hrseg.errors import ConfigError
from hrseg.meta.keypoints import COCO_PERSON, KEYPOINT_NAMES, SKELETON, KeypointSet
from hrseg.utils.io import write_json

# the dataset's API, and the scene names this module has always offered
__all__ = [
    "INSTANCE_CATEGORIES", "KEYPOINT_NAMES", "MARKER_NAME", "PERSON_CATEGORY", "SKELETON",
    "Person", "Pose", "SceneObject", "SceneParams", "annotate", "dataset_paths",
    "ensure_synthetic_pose", "generate_synthetic_pose", "image_file_name", "image_id_of", "make_box",
    "render_sample", "render_scene",
    "sample_palette", "sample_person", "sample_pose", "sample_scene", "split_files",
]

PERSON_CATEGORY: dict[str, Any] = person_category(COCO_PERSON)
FORMAT_VERSION = 1
_VAL_ID_OFFSET = 1_000_000  # image ids of the val split start here, so ids are unique overall


def dataset_paths(root: str | os.PathLike, split: str) -> dict[str, Path]:
    """Where a split's images folder and its two annotation files are."""
    r = Path(root)
    return {"images": r / "images" / split,
            "person_keypoints": r / "annotations" / f"person_keypoints_{split}.json",
            "instances": r / "annotations" / f"instances_{split}.json"}


def image_id_of(split: str, index: int) -> int:
    """The id of a split's ``index``-th image (0-based): unique across the train and val splits."""
    return (0 if split == "train" else _VAL_ID_OFFSET) + index + 1


def image_file_name(image_id: int) -> str:
    """An image's file name, COCO's 12-digit id."""
    return f"{image_id:012d}.jpg"


def split_files(root: Path, split: str, count: int) -> list[Path]:
    """The files a complete split of ``count`` images has (this layout, also the video frames')."""
    paths = dataset_paths(root, split)
    return [paths["person_keypoints"], paths["instances"],
            *(paths["images"] / image_file_name(image_id_of(split, i)) for i in range(count))]


def _write_split(root: Path, size: tuple[int, int], seed: int, params: SceneParams, jpeg_quality: int,
                 keypoints: KeypointSet, points: tuple[str, ...], split: str, count: int,
                 progress: Progress) -> dict[str, int]:
    paths = dataset_paths(root, split)
    images, anns = [], []
    for i in range(count):
        image_id = image_id_of(split, i)
        rng = np.random.default_rng([seed, SPLITS.index(split), i])  # per image: order-independent
        img, labels, entities = render_sample(rng, size, params)
        name = image_file_name(image_id)
        write_jpeg(paths["images"] / name, img, jpeg_quality)
        images.append({"id": image_id, "file_name": name, "height": size[0], "width": size[1]})
        anns += annotate(entities, labels, image_id, points)
        progress(split, i + 1, count)
    person_keypoints, instances = coco_files(images, anns, seed, FORMAT_VERSION, keypoints)
    write_json(paths["person_keypoints"], person_keypoints, indent=None)
    write_json(paths["instances"], instances, indent=None)
    return split_stats(anns, count)


def _splits(root: str | os.PathLike, num_train: int, num_val: int, image_size: tuple[int, int], seed: int,
            params: SceneParams, jpeg_quality: int, keypoints: KeypointSet | Mapping[str, Any] | None,
            sources: Sequence[str] | None) -> SyntheticSplits:
    """The dataset for these settings, checked (nothing is touched before)."""
    size = check_counts("synthetic_pose", num_train, num_val, image_size, 64, "image_size")
    people, objects = params.max_people, params.max_objects
    if people < 1 or objects < 0 or people + objects >= ANNS_PER_IMAGE:
        raise ConfigError(f"synthetic_pose: need 1 <= max_people and 0 <= max_objects with fewer "
                          f"than {ANNS_PER_IMAGE} in all, got {people} and {objects}")
    if isinstance(keypoints, Mapping):
        keypoints = KeypointSet.from_dict(keypoints)
    keypoints = keypoints or COCO_PERSON
    try:
        points = keypoint_sources(keypoints, sources)
    except ValueError as e:
        raise ConfigError(f"synthetic_pose: keypoints: {e}") from None
    settings = {"num_train": int(num_train), "num_val": int(num_val), "image_size": list(size),
                "seed": int(seed), "jpeg_quality": int(jpeg_quality), **asdict(params)}
    if keypoints != COCO_PERSON or points != COCO_PERSON.names:  # the default set keeps the old config
        settings["keypoints"] = {**keypoints.to_dict(), "sources": list(points)}
    root = Path(root)
    return SyntheticSplits("synthetic_pose", root, FORMAT_VERSION, settings,
                           {"train": int(num_train), "val": int(num_val)}, partial(split_files, root),
                           partial(_write_split, root, size, int(seed), params, int(jpeg_quality), keypoints, points))


def generate_synthetic_pose(root: str | os.PathLike, num_train: int = 800, num_val: int = 100,
                            image_size: tuple[int, int] = (256, 256), seed: int = 0, *,
                            params: SceneParams = SceneParams(), jpeg_quality: int = 92,
                            keypoints: KeypointSet | Mapping[str, Any] | None = None,
                            keypoint_sources: Sequence[str] | None = None, progress_every: int = 100,
                            log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Write the synthetic train and val splits under ``root`` and return a summary.

    ``image_size`` is (height, width); ``keypoints`` (default COCO's 17) and
    ``keypoint_sources`` as in the module docstring. The completion marker (``COMPLETE.json``,
    holding the config and per-split counts) is removed first and written last, so an
    interrupted run is recognisably incomplete. Returns the marker's content plus ``root`` and
    ``seconds``.
    """
    return _splits(root, num_train, num_val, image_size, seed, params, jpeg_quality, keypoints,
                   keypoint_sources).generate(log, progress_every)


def ensure_synthetic_pose(root: str | os.PathLike, num_train: int = 800, num_val: int = 100,
                          image_size: tuple[int, int] = (256, 256), seed: int = 0, *,
                          params: SceneParams = SceneParams(), jpeg_quality: int = 92,
                          keypoints: KeypointSet | Mapping[str, Any] | None = None,
                          keypoint_sources: Sequence[str] | None = None, progress_every: int = 100,
                          log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Generate the dataset unless a complete one with the same config is already at ``root``."""
    return _splits(root, num_train, num_val, image_size, seed, params, jpeg_quality, keypoints,
                   keypoint_sources).ensure(log, progress_every)
