"""COCO person-keypoint adapter: a validated annotation file and the person instances in it.

Instances come from ground-truth boxes (the official ``_load_coco_keypoint_annotation_kernal``
rules) or from a person-detection results file (``_load_coco_person_detection_results``);
either way each is a :class:`PersonInstance` with the official centre/scale (aspect ratio of
the network input, 1.25 padding, ``pixel_std`` 200).

Ground-truth rules: crowd regions and people without labelled keypoints are dropped; the box
is clipped to the image as official (``x2 = min(W-1, x1 + max(0, w-1))``) and dropped when the
annotation area is 0, the clipped box is empty, or (an addition: the official code would build
a singular transform) it is a single point. Labelled keypoints outside their image, which COCO
never has but user files may, become unlabelled (visibility 0) with one warning per file.

Detection rules: category 1 only, score >= ``image_thre``; keypoints zero and unlabelled (the
official code marks them visible, which only feeds a meaningless validation loss). Images with
labelled people but no detection are scored as the COCO protocol scores them (their people are
missed), with one warning saying how many of the images the detections cover.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO

from hrseg.data.pose.transforms import PIXEL_STD, box_to_center_scale
from hrseg.data.coco import (check_bbox, check_keypoints, coverage, is_numbers, listed, load_json, require_fields,
                              shown)
from hrseg.data.det.coco_instances import check_annotation_fields  # the instances loader's iscrowd / area checks
from hrseg.errors import DataError
from hrseg.meta.keypoints import KeypointSet, keypoint_set_from_category

__all__ = ["CocoKeypoints", "PersonInstance", "load_coco_keypoints", "split_image_ids"]

logger = logging.getLogger(__name__)

_IMAGE_FIELDS = ("id", "file_name", "width", "height")
_ANN_FIELDS = ("id", "image_id", "category_id", "bbox", "keypoints", "num_keypoints")  # iscrowd, area: defaults
_DET_FIELDS = ("image_id", "category_id", "bbox", "score")


@dataclass
class PersonInstance:
    """One person to crop: where, how big, its labels (if any) and its bookkeeping.

    ``joints`` (K, 2) are image pixels, ``joints_vis`` (K,) is 1 for labelled joints (COCO
    v=1 or 2) else 0. ``area`` is the official OKS-NMS area, ``prod(scale * 200)`` (the padded
    box); ``bbox`` is the (clipped) box it came from, xywh.
    """

    image_id: int
    image_file: Path
    center: np.ndarray
    scale: np.ndarray
    bbox: tuple[float, float, float, float]
    score: float
    joints: np.ndarray
    joints_vis: np.ndarray
    ann_id: int | None = None
    area: float = field(init=False)

    def __post_init__(self) -> None:
        self.area = float(np.prod(np.asarray(self.scale, dtype=np.float64) * PIXEL_STD))


def keypoint_categories(categories: Sequence[Any]) -> list[dict]:
    """The categories that carry keypoint names (COCO's ``person``; an animal set's species)."""
    return [c for c in categories if isinstance(c, dict) and c.get("keypoints")]


def load_coco_keypoints(path: str | os.PathLike, num_joints: int | None = None) -> COCO:
    """Read and validate a COCO-format keypoint file (any keypoint set) into a pycocotools ``COCO``.

    The keypoint categories are all those that list keypoint names; they must agree on the
    number K (``num_joints`` when given). Raises one :class:`DataError` naming the file for
    unreadable or malformed JSON, missing sections or fields, no keypoint category, an image
    whose width or height is not a number > 0, or annotations of those categories whose
    keypoints are not ``3 * K`` numbers, whose bbox is not ``[x, y, width, height]``, whose
    ``iscrowd`` is not 0 or 1 or whose ``area`` is not a number >= 0 (the checks the instances
    adapter shares: when the file is read, not in pycocotools during evaluation); a missing
    ``iscrowd`` or ``area`` gets COCO's default, as there.
    """
    path = Path(path)
    data = load_json(path, "annotation")
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a COCO object with images/annotations/categories")
    missing = [k for k in ("images", "annotations", "categories")
               if not isinstance(data.get(k), list)]
    if missing:
        raise DataError(f"{path}: missing COCO section(s) {', '.join(missing)}")
    categories = keypoint_categories(data["categories"])
    if not categories:
        raise DataError(f"{path}: no category lists keypoint names; is this a COCO keypoints file?")
    sizes = sorted({len(c["keypoints"]) for c in categories})
    if len(sizes) > 1 or (num_joints is not None and sizes[0] != num_joints):
        raise DataError(f"{path}: keypoint categories have {', '.join(map(str, sizes))} keypoint names"
                        + (f"; expected {num_joints}" if num_joints is not None else "; they must agree"))
    num_joints = sizes[0]
    cat_ids = {c.get("id") for c in categories}
    images = {}
    for img in data["images"]:
        require_fields(img, _IMAGE_FIELDS, path, "image")
        for side in ("width", "height"):
            if not (is_numbers([img[side]]) and img[side] > 0):
                raise DataError(f"{path}: image id {img['id']} has {side} {shown(img[side])}; expected a number > 0")
        images[img["id"]] = img
    filled = 0
    for ann in data["annotations"]:
        require_fields(ann, ("id", "image_id", "category_id"), path, "annotation")
        if ann["category_id"] not in cat_ids:
            continue
        require_fields(ann, _ANN_FIELDS, path, "keypoint annotation")
        check_keypoints(ann, num_joints, path)
        check_bbox(ann, path)
        if ann["image_id"] in images:  # an annotation of no image of the file is never used
            filled += check_annotation_fields(ann, images[ann["image_id"]], path)
    if filled:
        logger.info("%s: %d keypoint annotation(s) lack iscrowd or area; COCO's defaults filled in (iscrowd 0, area "
                    "of the segmentation, else of the box)", path, filled)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    return coco


def split_image_ids(coco: COCO, split: str, path: str | os.PathLike | None = None) -> list[int]:
    """Ids of the images whose record says ``coco_split == split`` (the sample data's field). A
    split no image has (a typo, say) is one :class:`DataError` naming the split asked for and
    those the file (``path``, for the message) has."""
    ids = sorted(i for i, img in coco.imgs.items() if img.get("coco_split") == split)
    if not ids:
        have = sorted({str(img["coco_split"]) for img in coco.imgs.values() if "coco_split" in img})
        where = f"{path}: " if path is not None else "annotation file: "
        raise DataError(where + f"no image has coco_split {split!r} (data.*.coco_split); " + (
            f"the file's splits are {listed([repr(h) for h in have], 10)}" if have
            else "no image of this file has a coco_split field"))
    return ids


class CocoKeypoints:
    """A COCO person_keypoints file, its image folder, and the person instances in it.

    ``input_size`` is the network input (H, W), as configs and the codec give it; it fixes the
    box aspect ratio (W / H: 192/256).
    ``img_ids`` restricts everything to those images (e.g. :func:`split_image_ids`).
    """

    def __init__(self, ann_file: str | os.PathLike, image_dir: str | os.PathLike,
                 input_size: Sequence[int] = (256, 192), img_ids: Iterable[int] | None = None,
                 num_joints: int | None = None, padding: float = 1.25) -> None:
        self.ann_file = Path(ann_file)
        self.image_dir = Path(image_dir)
        self.aspect_ratio = int(input_size[1]) / int(input_size[0])
        self.padding = padding
        self.coco = load_coco_keypoints(self.ann_file, num_joints)
        self.categories = keypoint_categories(self.coco.dataset["categories"])
        self.cat_ids = {int(c["id"]) for c in self.categories}
        self.num_joints = len(self.categories[0]["keypoints"])
        if img_ids is None:
            self.image_ids = sorted(self.coco.getImgIds())
        else:
            self.image_ids = sorted({int(i) for i in img_ids})
            unknown = [i for i in self.image_ids if i not in self.coco.imgs]
            if unknown:
                raise DataError(f"{self.ann_file}: image id(s) {unknown[:5]} not in this file")

    def image_path(self, image_id: int) -> Path:
        return self.image_dir / self.coco.imgs[image_id]["file_name"]

    def image_size(self, image_id: int) -> tuple[int, int]:
        """(H, W) as the file records it: a decoded image of another size (an EXIF rotation) would not fit."""
        img = self.coco.imgs[image_id]
        return int(img["height"]), int(img["width"])

    @property
    def num_images(self) -> int:
        return len(self.coco.imgs)

    def default_keypoints(self) -> KeypointSet:
        """The file's keypoint category as a set (COCO's person with its official sigmas and pairs)."""
        return keypoint_set_from_category(self.categories[0])

    def _center_scale(self, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        return box_to_center_scale(*box[:4], self.aspect_ratio, self.padding)

    def gt_instances(self) -> list[PersonInstance]:
        """People with labelled keypoints and their ground-truth boxes (training and GT-box
        evaluation alike, as official)."""
        out: list[PersonInstance] = []
        outside = 0
        for image_id in self.image_ids:
            img = self.coco.imgs[image_id]
            width, height = img["width"], img["height"]
            for ann in self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id, iscrowd=False)):
                if ann["category_id"] not in self.cat_ids or max(ann["keypoints"]) == 0:
                    continue
                box = _clean_box(ann, width, height)
                if box is None:
                    continue
                kpts = np.asarray(ann["keypoints"], dtype=np.float32).reshape(-1, 3)
                vis = np.minimum(kpts[:, 2], 1.0)
                x, y = kpts[:, 0], kpts[:, 1]
                off = (vis > 0) & ((x < 0) | (y < 0) | (x >= width) | (y >= height))
                outside += int(off.sum())
                vis[off] = 0.0
                if vis.max() == 0:
                    continue
                center, scale = self._center_scale(box)
                out.append(PersonInstance(image_id, self.image_path(image_id), center, scale,
                                          box, 1.0, kpts[:, :2].copy(), vis, ann_id=ann["id"]))
        if outside:
            logger.warning("%s: %d labelled keypoint(s) lie outside their image; treated as "
                           "unlabelled", self.ann_file, outside)
        return out

    def detection_instances(self, det_file: str | os.PathLike, image_thre: float = 0.0
                            ) -> list[PersonInstance]:
        """People from a COCO detection results file (a list of image_id/category_id/bbox/
        score records), for evaluation with detected boxes; other images are ignored. One
        warning when the images with labelled people are not all covered by the file."""
        det_file = Path(det_file)
        dets = load_json(det_file, "detection results")
        if not isinstance(dets, list):
            raise DataError(f"{det_file}: expected a JSON list of detections")
        wanted = set(self.image_ids)
        covered: set[int] = set()
        out: list[PersonInstance] = []
        for det in dets:
            require_fields(det, _DET_FIELDS, det_file, "detection")
            if not is_numbers(det["bbox"], 4) or not is_numbers([det["score"]]):
                raise DataError(f"{det_file}: detection for image id {det['image_id']} has bbox "
                                f"{shown(det['bbox'])} and score {shown(det['score'])}; expected "
                                "[x, y, width, height] (four numbers) and a number")
            if det["category_id"] not in self.cat_ids or det["score"] < image_thre:
                continue
            image_id = int(det["image_id"])
            if image_id not in self.coco.imgs:
                raise DataError(f"{det_file}: detection for image id {image_id}, which is not "
                                f"in {self.ann_file}")
            covered.add(image_id)
            if image_id not in wanted:
                continue
            box = [float(v) for v in det["bbox"]]
            if box[2] <= 0 and box[3] <= 0:
                continue  # a point: no crop can be made of it
            center, scale = self._center_scale(box)
            k = self.num_joints
            out.append(PersonInstance(image_id, self.image_path(image_id), center, scale,
                                      tuple(box), float(det["score"]),
                                      np.zeros((k, 2), np.float32), np.zeros(k, np.float32)))
        self._warn_uncovered(det_file, covered, "detections" + (f" (score >= {image_thre:g})" if image_thre else ""))
        return out

    def _warn_uncovered(self, det_file: Path, covered: set[int], what: str) -> None:
        """One warning naming the images with labelled people that ``det_file`` has no detection
        for: the COCO protocol scores them (their people are missed), which lowers AP silently."""
        labelled = [i for i in self.image_ids if any(
            a["category_id"] in self.cat_ids and not a.get("iscrowd") and max(a["keypoints"][2::3], default=0) > 0
            for a in self.coco.imgToAnns.get(i, []))]
        missing = [i for i in labelled if i not in covered]
        if missing:
            logger.warning("%s: %s; their people count as missed (the COCO protocol)", det_file,
                           coverage(what, missing, len(labelled), "images with labelled people"))


def _clean_box(ann: dict, width: int, height: int) -> tuple[float, float, float, float] | None:
    """Official box sanitising (clip to the image, official -1 convention); None to drop."""
    x, y, w, h = (float(v) for v in ann["bbox"])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1))
    if ann["area"] > 0 and x2 >= x1 and y2 >= y1 and (x2 > x1 or y2 > y1):
        return (x1, y1, x2 - x1, y2 - y1)
    return None
