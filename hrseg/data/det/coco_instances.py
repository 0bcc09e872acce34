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
sections or fields, an annotation of an unknown category or image, and a box that is not four
finite numbers with non-negative width and height.
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

from hrseg.data.coco import check_bbox, listed, load_json, require_fields
from hrseg.errors import DataError
from hrseg.meta.classes import coco80_categories  # noqa: F401  (re-exported)
from hrseg.data.det.instance_masks import instance_mask

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
    docstring for what is checked)."""
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
    cat_ids = {c["id"] for c in data["categories"]}
    img_ids = {i["id"] for i in data["images"]}
    if not cat_ids:
        raise DataError(f"{path}: no categories")
    for ann in data["annotations"]:
        require_fields(ann, _ANN_FIELDS, path, "annotation")
        if ann["category_id"] not in cat_ids:
            raise DataError(f"{path}: annotation id {ann['id']} has category_id {ann['category_id']}, "
                            f"which is not among the file's categories ({listed(sorted(cat_ids), 8)})")
        if ann["image_id"] not in img_ids:
            raise DataError(f"{path}: annotation id {ann['id']} refers to image id {ann['image_id']}, "
                            "which is not in the file's images")
        check_bbox(ann, path)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


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
            logger.warning("%s: %d box(es) under %g px wide or high (e.g. annotation id %s) are left out "
                           "of the training targets", self.ann_file, len(small), MIN_BOX_SIZE, small[0])


def _clip_xyxy(box: Sequence[float], width: int, height: int) -> list[float] | None:
    x, y, w, h = (float(v) for v in box)
    x1, y1 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x2, y2 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
        return None
    return [x1, y1, x2, y2]
