"""Synthetic multi-task mini-split: the pose split's figures (keypoints, instance masks) standing in
the street scenes (semantic classes), so one image has every label the multi-task model learns.

A sample is a street (:func:`hrseg.data.synthetic.streets.render_street` without poles and signs:
road, sidewalk, building, vegetation, sky, car and its own small pedestrians) with 1 to
``max_people`` figures (:func:`hrseg.data.synthetic.scenes.sample_scene`, drawn by
:func:`~hrseg.data.synthetic.scenes.render_scene`) in front of it. Labels:

- semantic: the street's Cityscapes classes, the figures' pixels ``person``; stored as the
  contiguous ids of :data:`SEMANTIC_CLASSES` (255: the street's unlabelled clutter);
- instances (COCO, categories person 1 and car 2): each figure, with its 17 COCO keypoints read
  off the picture (:mod:`.annotate`); each connected region of the street's car pixels and of
  its pedestrians' pixels not covered by a figure (pedestrians carry no keypoints: v=0
  everywhere, ``num_keypoints`` 0, which the keypoint evaluation ignores). Touching cars or
  pedestrians form one region, and regions under :data:`MIN_INSTANCE_AREA` pixels are crowd
  regions (left out of training, ignored by the evaluation): the street's far cars are a few
  pixels.

Output layout under ``root``::

    images/{train,val}/<12-digit id>.jpg
    semantic/{train,val}/<12-digit id>.png            contiguous class ids, 255 unlabelled
    annotations/instances_{train,val}.json            COCO instances: person, car (polygons)
    annotations/person_keypoints_{train,val}.json     COCO person keypoints
    COMPLETE.json                                     written last: the config and counts

Generate-once through :mod:`.generate`; the same arguments give byte-identical files.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from hrseg.data.synthetic.annotate import ANNS_PER_IMAGE, annotate, coco_files, split_stats
from hrseg.data.synthetic.body import PART_BITS
from hrseg.data.synthetic.generate import SPLITS, Progress, SyntheticSplits, check_counts, write_jpeg, to_stderr
from hrseg.data.synthetic.scenes import SceneParams, render_scene, sample_scene
from hrseg.data.synthetic.streets import (
    BUILDING, CAR, PERSON, ROAD, SIDEWALK, SKY, VEGETATION, render_street,
)
from hrseg.meta.classes import IGNORE_INDEX
from hrseg.meta.keypoints import NUM_JOINTS, PERSON_CATEGORY_ID
from hrseg.utils.image_io import write_image
from hrseg.utils.io import write_json

__all__ = ["CAR_CATEGORY_ID", "MULTI_CATEGORIES", "SEMANTIC_CLASSES", "dataset_paths", "ensure_synthetic_multi",
           "render_multi"]

FORMAT_VERSION = 1
CAR_CATEGORY_ID = 2
MULTI_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"supercategory": "person", "id": PERSON_CATEGORY_ID, "name": "person"},
    {"supercategory": "vehicle", "id": CAR_CATEGORY_ID, "name": "car"},
)
# The semantic classes in id order, with the street's Cityscapes labelId of each.
SEMANTIC_CLASSES: tuple[str, ...] = ("road", "sidewalk", "building", "vegetation", "sky", "person", "car")
_LABEL_IDS = (ROAD, SIDEWALK, BUILDING, VEGETATION, SKY, PERSON, CAR)
MIN_INSTANCE_AREA = 64  # px; smaller car / pedestrian regions become crowd regions
_VAL_ID_OFFSET = 1_000_000
DEFAULT_PARAMS = SceneParams(max_people=3, max_objects=0, min_person_height=40.0, max_person_fraction=0.85)


@dataclass(frozen=True)
class Region:
    """A street instance (a car or a pedestrian region) as an entity :func:`annotate` reads."""

    category_id: int
    depth: float = 0.0


def _semantic_ids(label_ids: np.ndarray) -> np.ndarray:
    table = np.full(256, IGNORE_INDEX, np.uint8)
    table[list(_LABEL_IDS)] = np.arange(len(_LABEL_IDS), dtype=np.uint8)
    return table[label_ids]


def render_multi(rng: np.random.Generator, size: tuple[int, int], params: SceneParams = DEFAULT_PARAMS
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    """One sample: (uint8 RGB image, uint8 semantic ids, uint16 instance map ``entity << 5 | part``,
    entities): the figures first (entities 1..P), then the street's car and pedestrian regions."""
    street, label_ids = render_street(rng, size, furniture=False)
    people = sample_scene(rng, size, params)
    canvas = render_scene(people, np.ascontiguousarray(street[..., ::-1]))  # the figures draw in BGR
    figures = canvas.labels > 0
    image = canvas.image[..., ::-1]
    image = cv2.GaussianBlur(image, (0, 0), 0.5)  # the figures' edges as soft as the street's
    semantic = _semantic_ids(np.where(figures, PERSON, label_ids).astype(np.uint8))
    instances = canvas.labels.copy()
    entities: list[Any] = list(people)
    for label_id, category in ((CAR, CAR_CATEGORY_ID), (PERSON, PERSON_CATEGORY_ID)):
        count, regions = cv2.connectedComponents(((label_ids == label_id) & ~figures).astype(np.uint8), connectivity=8)
        for r in range(1, count):
            if len(entities) + 1 >= ANNS_PER_IMAGE:
                break
            entities.append(Region(category))
            instances[regions == r] = len(entities) << PART_BITS
    return np.ascontiguousarray(image), semantic, instances, entities


def _image_name(split: str, index: int) -> tuple[int, str]:
    image_id = (0 if split == "train" else _VAL_ID_OFFSET) + index + 1
    return image_id, f"{image_id:012d}"


def dataset_paths(root: str | os.PathLike, split: str) -> dict[str, Path]:
    """Where a split's images, semantic maps and two annotation files are."""
    r = Path(root)
    return {"images": r / "images" / split, "semantic": r / "semantic" / split,
            "instances": r / "annotations" / f"instances_{split}.json",
            "person_keypoints": r / "annotations" / f"person_keypoints_{split}.json"}


def _files(root: Path, split: str, count: int) -> list[Path]:
    paths = dataset_paths(root, split)
    stems = [_image_name(split, i)[1] for i in range(count)]
    return [paths["instances"], paths["person_keypoints"], *(paths["images"] / f"{s}.jpg" for s in stems),
            *(paths["semantic"] / f"{s}.png" for s in stems)]


def _annotations(entities: list[Any], instances: np.ndarray, image_id: int) -> list[dict[str, Any]]:
    anns = annotate(entities, instances, image_id)
    for ann in anns:
        if ann["area"] < MIN_INSTANCE_AREA:
            ann["iscrowd"] = 1
        if ann["category_id"] == PERSON_CATEGORY_ID and "keypoints" not in ann:
            ann["keypoints"], ann["num_keypoints"] = [0] * (3 * NUM_JOINTS), 0
    return anns


def _write_split(root: Path, size: tuple[int, int], seed: int, params: SceneParams, jpeg_quality: int, split: str,
                 count: int, progress: Progress) -> dict[str, int]:
    paths = dataset_paths(root, split)
    images, anns = [], []
    for i in range(count):
        image_id, stem = _image_name(split, i)
        rng = np.random.default_rng([seed, SPLITS.index(split), i])
        image, semantic, instances, entities = render_multi(rng, size, params)
        write_jpeg(paths["images"] / f"{stem}.jpg", image[..., ::-1], jpeg_quality)
        write_image(paths["semantic"] / f"{stem}.png", semantic)
        images.append({"id": image_id, "file_name": f"{stem}.jpg", "height": size[0], "width": size[1]})
        anns += _annotations(entities, instances, image_id)
        progress(split, i + 1, count)
    person_keypoints, instances_doc = coco_files(images, anns, seed, FORMAT_VERSION)
    instances_doc["categories"] = list(MULTI_CATEGORIES)
    instances_doc["semantic_classes"] = list(SEMANTIC_CLASSES)
    write_json(paths["person_keypoints"], person_keypoints, indent=None)
    write_json(paths["instances"], instances_doc, indent=None)
    stats = split_stats(anns, count)
    stats["cars"] = sum(1 for a in anns if a["category_id"] == CAR_CATEGORY_ID and not a["iscrowd"])
    return stats


def _splits(root: str | os.PathLike, num_train: int, num_val: int, image_size: tuple[int, int], seed: int,
            params: SceneParams, jpeg_quality: int) -> SyntheticSplits:
    size = check_counts("synthetic_multi", num_train, num_val, image_size, 64, "image_size")
    settings = {"num_train": int(num_train), "num_val": int(num_val), "image_size": list(size), "seed": int(seed),
                "jpeg_quality": int(jpeg_quality), **asdict(params)}
    root = Path(root)
    return SyntheticSplits("synthetic_multi", root, FORMAT_VERSION, settings,
                           {"train": int(num_train), "val": int(num_val)}, partial(_files, root),
                           partial(_write_split, root, size, int(seed), params, int(jpeg_quality)))


def generate_synthetic_multi(root: str | os.PathLike, num_train: int = 600, num_val: int = 100,
                             image_size: tuple[int, int] = (256, 384), seed: int = 0, *,
                             params: SceneParams | dict[str, Any] | None = None, jpeg_quality: int = 92,
                             progress_every: int = 100,
                             log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Write the train and val splits under ``root`` (whatever is there); as :func:`ensure_synthetic_multi`."""
    scene = SceneParams(**params) if isinstance(params, dict) else params or DEFAULT_PARAMS
    return _splits(root, num_train, num_val, image_size, seed, scene, jpeg_quality).generate(log, progress_every)


def ensure_synthetic_multi(root: str | os.PathLike, num_train: int = 600, num_val: int = 100,
                           image_size: tuple[int, int] = (256, 384), seed: int = 0, *,
                           params: SceneParams | dict[str, Any] | None = None, jpeg_quality: int = 92,
                           progress_every: int = 100, log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Generate the train and val splits under ``root`` unless a complete one with the same
    settings is there; ``image_size`` is (H, W). Returns the marker's content, ``root``, ``seconds``."""
    scene = SceneParams(**params) if isinstance(params, dict) else params or DEFAULT_PARAMS
    return _splits(root, num_train, num_val, image_size, seed, scene, jpeg_quality).ensure(log, progress_every)
