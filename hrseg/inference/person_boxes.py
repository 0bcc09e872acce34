"""Where top-down pose gets its person boxes: a boxes file (per image, COCO detection results, or
a COCO annotation file's ground-truth boxes), a person detector (in a video every N frames), or
the whole image; :class:`PersonBoxes` says which in every answer (``"detector"``)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from hrseg.data.mot import by_frame, read_mot
from hrseg.errors import DataError
from hrseg.inference.tracking import boxes_from_keypoints

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
    """``boxes(image, key) -> [[x, y, w, h, score], ...]``: from ``boxes_file`` (a JSON file of
    boxes per image, looked up by the image's ``key``, a path; or a MOTChallenge ``.txt`` file of
    boxes per frame, for a video: frame 1 is the first call after :meth:`reset`), else from
    ``detector`` (in a video every ``det_every`` calls; in between, the boxes of the people of the
    frame before: :meth:`follow`), else the whole image. :attr:`name` is what gave the boxes:
    the detector's name, the boxes file, or "whole image"."""

    def __init__(self, boxes_file: str | os.PathLike | None = None,
                 detector: Callable[[np.ndarray], list[list[float]]] | None = None, det_every: int = 1) -> None:
        if det_every < 1:
            raise DataError(f"detect every n frames: n must be at least 1, got {det_every}")
        mot = boxes_file is not None and Path(boxes_file).suffix.lower() == ".txt"
        self.frames = ({f: [[b.x, b.y, b.w, b.h, b.score] for b in found] for f, found in
                        by_frame(read_mot(boxes_file)).items()} if mot else None)
        self.boxes = read_boxes(boxes_file) if boxes_file and not mot else None
        self.detector = None if boxes_file else detector
        self.det_every, self.calls, self.last = det_every, 0, None
        self.name = (f"boxes file {boxes_file}" if boxes_file else
                     getattr(detector, "name", "person detector") if detector is not None else WHOLE_IMAGE)

    def reset(self) -> None:
        """A new video: the next call detects."""
        self.calls, self.last = 0, None

    def follow(self, people: list[dict[str, Any]], aspect_ratio: float | None = None) -> None:
        """Between detector frames (``det_every`` > 1), the next frame's boxes are these people's,
        from their keypoints (expanded as the top-down crop expands a box): a person who walks
        takes the box along; new people are found at the next detector frame."""
        if self.detector is not None and self.det_every > 1:
            self.last = boxes_from_keypoints(people, aspect_ratio)

    @property
    def detects(self) -> bool:
        return self.detector is not None

    def __call__(self, image: np.ndarray, key: Any = None) -> list[list[float]]:
        if self.frames is not None:  # MOTChallenge boxes: this video frame's
            self.calls += 1
            return self.frames.get(self.calls, [])
        if self.detector is not None:
            if self.det_every == 1:  # no state: concurrent callers (the service's requests) stay apart
                return self.detector(image)
            if self.calls % self.det_every == 0:
                self.last = self.detector(image)
            self.calls += 1
            return self.last
        h, w = image.shape[:2]
        return boxes_for(Path(key) if key is not None else None, self.boxes, w, h)
