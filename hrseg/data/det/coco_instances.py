"""COCO instances adapter for box detection: a validated annotation file, contiguous labels and
per-image training targets.

Rules (those of mmdetection's ``CocoDataset`` and torchvision's detection references):

- categories are numbered 1..K in order of their COCO id (0 is the background), so COCO's 80
  ids 1..90 become labels 1..80; ``cat_ids[label - 1]`` maps back for the results file;
- boxes are ``[x, y, w, h]`` in the file and ``[x1, y1, x2, y2]`` in targets, clipped to the
  image;
- crowd regions (``iscrowd`` 1) are left out of the training targets; evaluation keeps them,
  where pycocotools ignores detections matched to them;
- boxes under 1 px wide or high after clipping (zero area) are left out of the training targets
  with one warning per file (real COCO has a few; torchvision's detectors reject them);
- images without boxes are kept (they train the background), but a training split with no box
  at all is refused (:meth:`CocoInstances.check_boxes`: mmdetection's ``filter_empty_gt``,
  detectron2's "dataset is empty"); a val split without boxes only gets a warning (its
  predictions can still be written; its box AP is undefined).

A :class:`DataError` naming the file is raised for unreadable or malformed JSON, missing
sections or fields, an id that is not an integer or is used twice (images, annotations,
categories), an image size that is not positive integers, an annotation of an unknown category
or image, a box that is not four finite numbers with non-negative width and height, an
``iscrowd`` not 0 or 1, an ``area`` not a number >= 0 and a malformed ``segmentation``
(:func:`~hrseg.data.det.instance_masks.check_segmentation`: checked when the file is read, not
when the image is first trained on or in pycocotools during evaluation). A missing ``iscrowd``
or ``area`` is filled in with COCO's defaults, as detectron2 does (0; the segmentation's area,
else the box's), so that ``COCOeval`` can read the file.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from pycocotools.coco import COCO

from hrseg.data.coco import check_bbox, is_numbers, listed, load_json, require_fields, shown
from hrseg.errors import DataError
from hrseg.meta.classes import coco80_categories  # noqa: F401  (re-exported)
from hrseg.data.det.instance_masks import check_segmentation, instance_mask, segmentation_area

__all__ = ["CocoInstances", "ImageTargets", "coco80_categories", "load_coco_instances"]

logger = logging.getLogger(__name__)

_IMAGE_FIELDS = ("id", "file_name", "width", "height")
_ANN_FIELDS = ("id", "image_id", "category_id", "bbox")
MIN_BOX_SIZE = 1.0  # px; smaller boxes are left out of training targets (mmdetection's rule)


@dataclass(frozen=True)
class ImageTargets:
    """One image's training targets: ``boxes`` (N, 4) float32 xyxy, ``labels`` (N,) int64 1..K
    and, when asked for, ``masks`` (N, H, W) uint8 instance masks."""

    image_id: int
    file_name: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None = None


def load_coco_instances(path: str | os.PathLike) -> COCO:
    """Read and validate a COCO instances file into a pycocotools ``COCO`` (see the module
    docstring for what is checked), with COCO's defaults filled in where an annotation lacks
    ``iscrowd`` (0) or ``area`` (:func:`_default_area`), so that training and ``COCOeval`` see
    the same ground truth."""
    path = Path(path)
    data = load_json(path, "annotation")
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a COCO object with images/annotations/categories")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise DataError(f"{path}: missing COCO section(s) {', '.join(missing)}")
    for cat in data["categories"]:
        require_fields(cat, ("id", "name"), path, "category")
    for img in data["images"]:
        require_fields(img, _IMAGE_FIELDS, path, "image")
        for side in ("width", "height"):
            if not (_is_int(img[side]) and img[side] > 0):
                raise DataError(f"{path}: image id {img['id']} has {side} {shown(img[side])}; expected a "
                                "positive integer")
    cat_ids = set(_unique_ids(data["categories"], path, "category"))
    imgs = dict(zip(_unique_ids(data["images"], path, "image"), data["images"]))
    if not cat_ids:
        raise DataError(f"{path}: no categories")
    for ann in data["annotations"]:
        require_fields(ann, _ANN_FIELDS, path, "annotation")
    _unique_ids(data["annotations"], path, "annotation")
    defaults = 0
    for ann in data["annotations"]:
        if not _is_int(ann["category_id"]) or ann["category_id"] not in cat_ids:
            raise DataError(f"{path}: annotation id {ann['id']} has category_id {shown(ann['category_id'])}, "
                            f"which is not among the file's categories ({listed(sorted(cat_ids), 8)})")
        if not _is_int(ann["image_id"]) or ann["image_id"] not in imgs:
            raise DataError(f"{path}: annotation id {ann['id']} refers to image id {shown(ann['image_id'])}, "
                            "which is not in the file's images")
        check_bbox(ann, path)
        defaults += check_annotation_fields(ann, imgs[ann["image_id"]], path)
    if defaults:
        logger.info("%s: %d annotation(s) lack iscrowd or area; COCO's defaults filled in (iscrowd 0, area of "
                    "the segmentation, else of the box)", path, defaults)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unique_ids(records: list[dict], path: Path, what: str) -> list[int]:
    """The records' ids, each an integer and none twice (pycocotools' index would keep one of
    two records of an id and drop the other; mmdetection asserts unique annotation ids)."""
    ids: dict[int, None] = {}
    for rec in records:
        rid = rec["id"]
        if not _is_int(rid):
            raise DataError(f"{path}: {what} id {shown(rid)} is not an integer")
        if rid in ids:
            raise DataError(f"{path}: {what} id {rid} is used twice (each {what} needs its own id)")
        ids[rid] = None
    return list(ids)


def check_annotation_fields(ann: dict, img: dict, path: Path) -> bool:
    """Check an annotation's ``segmentation`` (when it has one: None or [] is no mask, as
    :func:`hrseg.evaluation.coco_masks.mask_coverage` reads it), ``iscrowd`` and ``area``, and
    fill in the last two when missing; True when something was filled in. The keypoint loader
    (:mod:`hrseg.data.pose.coco_keypoints`) checks its annotations with it too."""
    where = f"{path}: annotation id {ann['id']}"
    seg = ann.get("segmentation")
    if seg is not None and seg != []:
        check_segmentation(seg, int(img["height"]), int(img["width"]), where)
    filled = "iscrowd" not in ann or "area" not in ann
    ann.setdefault("iscrowd", 0)
    if ann["iscrowd"] not in (0, 1):
        raise DataError(f"{where} has iscrowd {shown(ann['iscrowd'])}; expected 0 or 1")
    if "area" not in ann:
        ann["area"] = _default_area(ann)
    elif not (is_numbers([ann["area"]]) and ann["area"] >= 0):
        raise DataError(f"{where} has area {shown(ann['area'])}; expected a finite number >= 0")
    return filled


def _default_area(ann: dict) -> float:
    """COCO's area of an annotation without one, as detectron2's ``convert_to_coco_dict``
    computes it: the segmentation's (polygons: their shoelace areas, exactly the official files'
    values; RLE: its pixels), else the box's width * height."""
    seg = ann.get("segmentation")
    if seg is not None and seg != []:
        return segmentation_area(seg)
    return float(ann["bbox"][2]) * float(ann["bbox"][3])


class CocoInstances:
    """A validated instances file with its label mapping and training targets.

    ``image_ids``: the images used (default all, sorted); ``categories``: ``[{'id', 'name'}]`` in
    label order; ``class_names[label - 1]``, ``cat_ids[label - 1]``, ``label_of[cat_id]``.
    """

    def __init__(self, ann_file: str | os.PathLike, img_ids: Iterable[int] | None = None) -> None:
        self.ann_file = Path(ann_file)
        self.coco = load_coco_instances(self.ann_file)
        cats = sorted(self.coco.dataset["categories"], key=lambda c: c["id"])
        self.categories = [{"id": int(c["id"]), "name": str(c["name"])} for c in cats]
        self.cat_ids = [c["id"] for c in self.categories]
        self.class_names = [c["name"] for c in self.categories]
        self.label_of = {cid: i + 1 for i, cid in enumerate(self.cat_ids)}
        if img_ids is None:
            self.image_ids = sorted(self.coco.imgs)
        else:
            self.image_ids = [int(i) for i in img_ids]
            unknown = [i for i in self.image_ids if i not in self.coco.imgs]
            if unknown:
                raise DataError(f"{self.ann_file}: image id(s) {unknown[:5]} not in this file")
        self._warn_small_boxes()

    @property
    def num_classes(self) -> int:
        """Labels plus the background, as torchvision's ``num_classes``."""
        return len(self.cat_ids) + 1

    def image_file(self, image_id: int, img_dir: str | os.PathLike) -> Path:
        return Path(img_dir) / self.coco.imgs[image_id]["file_name"]

    def targets(self, image_id: int, masks: bool = False) -> ImageTargets:
        """The training targets of one image (crowd and sub-pixel boxes left out); ``masks``
        adds the instance masks decoded from the polygons or RLE of ``segmentation``."""
        img = self.coco.imgs[image_id]
        w, h = int(img["width"]), int(img["height"])
        boxes, labels, bitmaps = [], [], []
        for ann, box in self._boxes(image_id):
            if box is not None:
                boxes.append(box)
                labels.append(self.label_of[ann["category_id"]])
                if masks:
                    bitmaps.append(instance_mask(ann, h, w, self.ann_file))
        stack = np.stack(bitmaps) if bitmaps else np.zeros((0, h, w), np.uint8)
        return ImageTargets(image_id, img["file_name"], w, h, np.asarray(boxes, np.float32).reshape(-1, 4),
                            np.asarray(labels, np.int64), stack if masks else None)

    def check_boxes(self, image_ids: Sequence[int] | None = None, train: bool = True) -> None:
        """Refuse (``train``) or warn about (evaluation) ``image_ids`` (default: those used) that
        hold no training box at all: a detector trained on none learns nothing (its box loss
        is 0), so a training split without boxes is one :class:`DataError` naming the file; a
        val split without boxes can still have its predictions written, but has no box AP."""
        ids = self.image_ids if image_ids is None else list(image_ids)
        found = [box for i in ids for _, box in self._boxes(i)]
        if any(box is not None for box in found):
            return
        why = ('its "annotations" list is empty' if not self.coco.dataset["annotations"] else
               f"all {len(found)} non-crowd box(es) of the {len(ids)} image(s) used are under {MIN_BOX_SIZE:g} px"
               if found else f"none of the {len(ids)} image(s) used has a non-crowd box annotation")
        if train:
            raise DataError(f"{self.ann_file}: nothing to train a detector on: {why}")
        logger.warning("%s: %s; box AP is undefined without ground truth (predictions are still written)",
                       self.ann_file, why)

    def _boxes(self, image_id: int) -> Iterator[tuple[dict, list[float] | None]]:
        """The image's non-crowd annotations, each with its box clipped to the image (xyxy;
        None: under :data:`MIN_BOX_SIZE`, left out of the training targets)."""
        img = self.coco.imgs[image_id]
        for ann in self.coco.imgToAnns.get(image_id, []):
            if not ann.get("iscrowd", 0):
                yield ann, _clip_xyxy(ann["bbox"], img["width"], img["height"])

    def _warn_small_boxes(self) -> None:
        small = [a["id"] for i in self.image_ids for a, box in self._boxes(i) if box is None]
        if small:
            logger.warning("%s: %d box(es) under %g px wide or high (e.g. annotation id %s) are left out of "
                           "training targets (evaluation counts them, as pycocotools does)", self.ann_file,
                           len(small), MIN_BOX_SIZE, small[0])


def _clip_xyxy(box: Sequence[float], width: int, height: int) -> list[float] | None:
    x, y, w, h = (float(v) for v in box)
    x1, y1 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x2, y2 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
        return None
    return [x1, y1, x2, y2]
