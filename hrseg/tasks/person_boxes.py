"""Where top-down pose gets its person boxes: a boxes file (per image, or COCO detection
results), a person detector (published by name, or any detection checkpoint), or the whole image."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from hrseg.errors import DataError

log = logging.getLogger("hrseg")


# The person detector in front of pose when no boxes are given: torchvision's COCO Faster R-CNN
# (box AP 46.7, person boxes close to the official AP-56 detector's; docs/weights.md says why).
DEFAULT_PERSON_DETECTOR = "fasterrcnn_resnet50_fpn_v2.torchvision_coco"


def person_detector(det_weights: str | os.PathLike | None = None, score_thr: float = 0.5
                    ) -> Callable[[np.ndarray], list[list[float]]] | None:
    """The person-box source of :meth:`PoseTask.infer`: the detector in ``det_weights`` (a
    published name, an hrseg or OpenMMLab detection file), else the default COCO detector by
    name; when that one cannot be had (offline, not in the cache), None (each whole image is one
    person) with a warning saying how to get it."""
    from hrseg.errors import CheckpointError
    from hrseg.weights import person_detector as build_detector

    if det_weights is not None:
        return build_detector(det_weights, score_thr)
    try:
        return build_detector(DEFAULT_PERSON_DETECTOR, score_thr)
    except CheckpointError as e:
        log.warning(f"no person detector ({e}); each whole image is taken as one person. Get the detector with "
                    f"`python tools/weights.py download {DEFAULT_PERSON_DETECTOR}` or pass --boxes / --det-weights")
        return None


def _ground_truth_boxes(data: Mapping, path: Path) -> dict[str, list[list[float]]]:
    """The person boxes of a COCO instances or keypoints file (``images`` + ``annotations``),
    by file name, score 1; crowd regions left out."""
    names = {c["id"] for c in data.get("categories", []) if str(c.get("name", "")).lower() == "person"}
    if not names:
        raise DataError(f"{path}: a COCO annotation file without a 'person' category")
    files = {im["id"]: im["file_name"] for im in data.get("images", [])}
    boxes: dict[str, list[list[float]]] = {name: [] for name in files.values()}
    for ann in data["annotations"]:
        if ann.get("category_id") in names and not ann.get("iscrowd") and ann["image_id"] in files:
            boxes[files[ann["image_id"]]].append(list(map(float, ann["bbox"])) + [1.0])
    return boxes


def read_boxes(path: str | os.PathLike) -> dict[str, list[list[float]]]:
    """Person boxes per image: ``{file_name_or_stem: [[x, y, w, h(, score)], ...]}``, a COCO
    detection results list (``image_id`` matched to the file's numeric stem, category 1), or a
    COCO instances / keypoints annotation file (its ground-truth person boxes, by file name)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise DataError(f"{p}: boxes file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: not valid JSON ({e})") from None
    boxes: dict[str, list[list[float]]] = {}
    if isinstance(data, Mapping) and "annotations" in data and "images" in data:
        boxes = _ground_truth_boxes(data, p)
    elif isinstance(data, Mapping):
        for key, items in data.items():
            boxes[str(key)] = [list(map(float, b)) for b in items]
    elif isinstance(data, list):
        for det in data:
            if not isinstance(det, Mapping) or "bbox" not in det or "image_id" not in det:
                raise DataError(f"{p}: each detection needs 'image_id' and 'bbox'")
            if det.get("category_id", 1) == 1:
                boxes.setdefault(str(det["image_id"]), []).append(list(map(float, det["bbox"])) + [float(det.get("score", 1.0))])
    else:
        raise DataError(f"{p}: expected a dict of boxes per image or a list of COCO detections")
    for key, items in boxes.items():
        if any(len(b) not in (4, 5) for b in items):
            raise DataError(f"{p}: boxes of {key!r} must be [x, y, w, h] or [x, y, w, h, score]")
    return boxes


def boxes_for(image_path: Path, boxes: Mapping[str, list[list[float]]] | None, width: int,
               height: int) -> list[list[float]]:
    if boxes is None:
        return [[0.0, 0.0, float(width), float(height), 1.0]]
    stem = image_path.stem
    for key in (image_path.name, stem, str(int(stem)) if stem.isdigit() else None):
        if key is not None and key in boxes:
            return [b if len(b) == 5 else b + [1.0] for b in boxes[key]]
    return []
