"""Where top-down pose gets its person boxes: a boxes file (per image, COCO detection results, or
a COCO annotation file's ground-truth boxes), a person detector (in a video every N frames), or
the whole image; :class:`PersonBoxes` says which in every answer (``"detector"``)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from hrseg.errors import DataError

WHOLE_IMAGE = "whole image"


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


def boxes_for(image_path: Path | None, boxes: Mapping[str, list[list[float]]] | None, width: int,
              height: int) -> list[list[float]]:
    """The boxes of one image (by file name, stem or numeric stem); None: the whole image."""
    if boxes is None or image_path is None:
        return [[0.0, 0.0, float(width), float(height), 1.0]]
    stem = image_path.stem
    for key in (image_path.name, stem, str(int(stem)) if stem.isdigit() else None):
        if key is not None and key in boxes:
            return [b if len(b) == 5 else b + [1.0] for b in boxes[key]]
    return []


class PersonBoxes:
    """``boxes(image, key) -> [[x, y, w, h, score], ...]``: from ``boxes`` (read from the file
    ``boxes_file``, looked up by the image's ``key``, a path), else from ``detector`` (every
    ``det_every`` calls in a video, the boxes reused in between), else the whole image.
    :attr:`name` is what gave the boxes: the detector's name, the boxes file, or "whole image"."""

    def __init__(self, boxes_file: str | os.PathLike | None = None,
                 detector: Callable[[np.ndarray], list[list[float]]] | None = None, det_every: int = 1) -> None:
        if det_every < 1:
            raise DataError(f"detect every n frames: n must be at least 1, got {det_every}")
        self.boxes = read_boxes(boxes_file) if boxes_file else None
        self.detector = None if self.boxes is not None else detector
        self.det_every, self.calls, self.last = det_every, 0, None
        self.name = (f"boxes file {boxes_file}" if boxes_file else
                     getattr(detector, "name", "person detector") if detector is not None else WHOLE_IMAGE)

    def reset(self) -> None:
        """A new video: the next call detects."""
        self.calls, self.last = 0, None

    @property
    def detects(self) -> bool:
        return self.detector is not None

    def __call__(self, image: np.ndarray, key: Any = None) -> list[list[float]]:
        if self.detector is not None:
            if self.det_every == 1:  # no state: concurrent callers (the service's requests) stay apart
                return self.detector(image)
            if self.calls % self.det_every == 0:
                self.last = self.detector(image)
            self.calls += 1
            return self.last
        h, w = image.shape[:2]
        return boxes_for(Path(key) if key is not None else None, self.boxes, w, h)
