"""Where top-down pose gets its person boxes: a boxes file (per image, COCO detection results, or
a COCO annotation file's ground-truth boxes; for a video a MOTChallenge ``.txt`` file), a person
detector (in a video every N frames), or the whole image; :class:`PersonBoxes` says which in
every answer (``"detector"``). A boxes file's inputs without an entry get no people, with one
warning (:func:`check_coverage`); a JSON file, keyed per photo, cannot give a video's frames boxes.
:func:`boxes_from_keypoints`: the next frame's boxes from this frame's people (detection every N
frames); :func:`keypoint_array`: hrseg's keypoint forms as one array (both also in
:mod:`hrseg.inference.tracking`'s API)."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from hrseg.data.coco import coverage, is_numbers, listed, shown
from hrseg.data.mot import by_frame, read_mot
from hrseg.data.pose.coco_keypoints import keypoint_categories
from hrseg.errors import ConfigError, DataError
from hrseg.geometry import box_to_center_scale

log = logging.getLogger("hrseg")
WHOLE_IMAGE = "whole image"
_BOX = "[x, y, w, h] or [x, y, w, h, score]"


def keypoint_array(keypoints: Any) -> np.ndarray:
    """Keypoints as a float (K, 3) array of x, y, score, from hrseg's ``{name: [x, y, s]}``,
    ``[[x, y, s], ...]`` or COCO's flat ``[x1, y1, s1, x2, ...]``."""
    values = list(keypoints.values()) if isinstance(keypoints, Mapping) else keypoints
    return np.asarray(values, dtype=np.float64).reshape(-1, 3)


def boxes_from_keypoints(people: Iterable[Mapping[str, Any]], aspect_ratio: float | None = None,
                         kpt_thr: float = 0.3, min_keypoints: int = 2, expansion: float = 1.25
                         ) -> list[list[float]]:
    """Person boxes ``[x, y, w, h, score]`` for the next frame from this frame's keypoints
    (detection every N frames, as mmpose's pose tracker does): the box around the joints scoring
    ``kpt_thr`` or more, grown ``expansion`` times about its centre and to ``aspect_ratio`` (w / h,
    the model's input; None keeps the box's own) by :func:`hrseg.geometry.box_to_center_scale`,
    the top-down crop's own box rule (the crop then pads it as it pads a detector's box). The
    score is the person's ``box_score`` (else ``score``); people with fewer than
    ``min_keypoints`` such joints give no box."""
    boxes = []
    for person in people:
        kpts = keypoint_array(person.get("keypoints") or [])
        seen = kpts[kpts[:, 2] >= kpt_thr, :2]
        if len(seen) < max(min_keypoints, 1):
            continue
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        center, size = box_to_center_scale(float(x0), float(y0), w, h, aspect_ratio or w / h, expansion, 1.0)
        score = float(person.get("box_score", person.get("score", 1.0)))
        boxes.append([float(center[0] - size[0] / 2), float(center[1] - size[1] / 2), float(size[0]),
                      float(size[1]), score])
    return boxes


def _ground_truth_boxes(data: Mapping, path: Path) -> dict[str, list[list[float]]]:
    """The boxes of a COCO instances or keypoints file (``images`` + ``annotations``) that a
    top-down pose model takes, by file name, score 1, crowd regions left out: those of its
    'person' category and of its keypoint categories (any keypoint set: an animal's too). A file
    with neither (an instances file of other things) is one :class:`DataError`."""
    categories = [c for c in data.get("categories") or [] if isinstance(c, Mapping)]
    wanted = {c.get("id") for c in categories if str(c.get("name", "")).lower() == "person"}
    wanted |= {c.get("id") for c in keypoint_categories(categories)}
    if not wanted:
        raise DataError(f"{path}: a COCO annotation file without a 'person' category or a keypoint category "
                        "(one with a 'keypoints' list of names): it has no boxes a pose model takes")
    files = {im["id"]: im["file_name"] for im in data.get("images", [])}
    boxes: dict[str, list[list[float]]] = {name: [] for name in files.values()}
    for ann in data["annotations"]:
        if ann.get("category_id") in wanted and not ann.get("iscrowd") and ann["image_id"] in files:
            if not is_numbers(ann.get("bbox"), 4):
                raise DataError(f"{path}: annotation id {ann.get('id')} has bbox {shown(ann.get('bbox'))}; "
                                "expected [x, y, width, height], four numbers")
            boxes[files[ann["image_id"]]].append([float(v) for v in ann["bbox"]] + [1.0])
    return boxes


def _entry_boxes(key: str, items: Any, path: Path) -> list[list[float]]:
    """One entry of a boxes-per-image file, checked: a list of boxes of finite numbers."""
    if is_numbers(items) and len(items) in (4, 5):
        raise DataError(f"{path}: entry {key!r} is one box {shown(items)}, not a list of boxes; "
                        f"expected [{_BOX}, ...] (a single box needs brackets of its own: [[...]])")
    if not isinstance(items, list) or not all(is_numbers(b) and len(b) in (4, 5) for b in items):
        raise DataError(f"{path}: entry {key!r} holds {shown(items)}; expected a list of boxes, each {_BOX}")
    return [[float(v) for v in b] for b in items]


def _detection_boxes(data: list, path: Path) -> dict[str, list[list[float]]]:
    """The person boxes (category 1) of a COCO detection results list, by image id."""
    boxes: dict[str, list[list[float]]] = {}
    for det in data:
        if not isinstance(det, Mapping) or "bbox" not in det or "image_id" not in det:
            raise DataError(f"{path}: each detection needs 'image_id' and 'bbox'")
        score = det.get("score", 1.0)
        if not is_numbers(det["bbox"], 4) or not is_numbers([score]):
            raise DataError(f"{path}: detection for image id {det['image_id']} has bbox {shown(det['bbox'])} and "
                            f"score {shown(score)}; expected [x, y, width, height] (four numbers) and a number")
        if det.get("category_id", 1) == 1:
            boxes.setdefault(str(det["image_id"]), []).append([float(v) for v in det["bbox"]] + [float(score)])
    return boxes


def read_boxes(path: str | os.PathLike) -> dict[str, list[list[float]]]:
    """Person boxes per image: ``{file_name_or_stem: [[x, y, w, h(, score)], ...]}``, a COCO
    detection results list (``image_id`` matched to the file's numeric stem, category 1), or a
    COCO instances / keypoints annotation file (the ground-truth boxes of its person and keypoint
    categories, by file name: :func:`_ground_truth_boxes`).
    Anything else, or an entry that is not a list of such boxes, is one :class:`DataError`
    naming the file (and the entry)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise DataError(f"{p}: boxes file not found") from None
    except IsADirectoryError:
        raise DataError(f"{p}: a folder, not a boxes file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: not valid JSON ({e})") from None
    if isinstance(data, Mapping) and "annotations" in data and "images" in data:
        return _ground_truth_boxes(data, p)
    if isinstance(data, Mapping):
        return {str(key): _entry_boxes(str(key), items, p) for key, items in data.items()}
    if isinstance(data, list):
        return _detection_boxes(data, p)
    raise DataError(f"{p}: expected a dict of boxes per image or a list of COCO detections")


def _key_of(image_path: Path, boxes: Mapping[str, Any]) -> str | None:
    """The entry of ``boxes`` for an image: by its file name, stem or numeric stem (785 for
    ``000000000785.jpg``, a COCO image id); None when it has none."""
    stem = image_path.stem
    for key in (image_path.name, stem, str(int(stem)) if stem.isdigit() else None):
        if key is not None and key in boxes:
            return key
    return None


def boxes_for(image_path: Path | None, boxes: Mapping[str, list[list[float]]] | None, width: int,
              height: int) -> list[list[float]]:
    """The boxes of one image (by file name, stem or numeric stem); None: the whole image."""
    if boxes is None or image_path is None:
        return [[0.0, 0.0, float(width), float(height), 1.0]]
    key = _key_of(image_path, boxes)
    return [] if key is None else [b if len(b) == 5 else b + [1.0] for b in boxes[key]]


def check_coverage(boxes: Mapping[str, Any], inputs: Sequence[str | os.PathLike], path: str | os.PathLike
                   ) -> list[Path]:
    """The ``inputs`` (image paths) that boxes file ``path`` has no entry for, with one warning
    naming how many and the first few (a COCO detections file leaves out the images without
    detections, so it is not an error); when none matches, the warning says what the file's
    keys look like, so a file for other images shows as such."""
    missing = [Path(p) for p in inputs if _key_of(Path(p), boxes) is None]
    if missing:
        hint = ""
        if len(missing) == len(inputs):
            keys = [repr(k) for k in boxes]
            hint = (f"; its keys look like {listed(keys, 3)} (an input matches by its file name, stem or "
                    "number: 000000000785.jpg by '785')" if keys else "; it has no entries")
        log.warning("%s: %s: those get no people%s", path,
                    coverage("its entries", [p.name for p in missing], len(inputs), "inputs"), hint)
    return missing


def video_refusal(boxes_file: str | os.PathLike, video: str | os.PathLike) -> DataError:
    """The error for a JSON boxes file (keyed per photo) given with a video: it has no frames."""
    return DataError(f"{boxes_file}: a JSON boxes file gives boxes per photo, not per frame of a video ({video}); "
                     "for a video give a MOTChallenge .txt file (a 'frame, id, x, y, w, h, score' line a box), "
                     "or no boxes file (the person detector)")


def check_det_every(boxes_file: str | os.PathLike | None, det_every: int) -> None:
    """Detection every N frames (``det_every`` > 1) with a boxes file is a :class:`ConfigError`: the
    boxes are the file's, there is no detector to skip (an option without effect is refused, not ignored)."""
    if boxes_file is not None and det_every > 1:
        raise ConfigError(f"--det-every {det_every}: the person boxes come from the boxes file {boxes_file}, "
                          "not a detector, so there is nothing to run every N frames; leave --det-every out")


class PersonBoxes:
    """``boxes(image, key) -> [[x, y, w, h, score], ...]``: from ``boxes_file`` (a JSON file of
    boxes per image, looked up by the image's ``key``, a path; or a MOTChallenge ``.txt`` file of
    boxes per frame, for a video: frame 1 is the first call after :meth:`reset`), else from
    ``detector`` (in a video every ``det_every`` calls; in between, the boxes of the people of the
    frame before: :meth:`follow`), else the whole image. :attr:`name` is what gave the boxes:
    the detector's name, the boxes file, or "whole image". :meth:`check_inputs` checks a run's
    inputs against the boxes file before any work."""

    def __init__(self, boxes_file: str | os.PathLike | None = None,
                 detector: Callable[[np.ndarray], list[list[float]]] | None = None, det_every: int = 1) -> None:
        if det_every < 1:
            raise DataError(f"detect every n frames: n must be at least 1, got {det_every}")
        check_det_every(boxes_file, det_every)
        mot = boxes_file is not None and Path(boxes_file).suffix.lower() == ".txt"
        self.frames = ({f: [[b.x, b.y, b.w, b.h, b.score] for b in found] for f, found in
                        by_frame(read_mot(boxes_file)).items()} if mot else None)
        self.boxes = read_boxes(boxes_file) if boxes_file and not mot else None
        self.boxes_file = Path(boxes_file) if boxes_file else None
        self.detector = None if boxes_file else detector
        self.det_every, self.calls, self.last = det_every, 0, None
        self.name = (f"boxes file {boxes_file}" if boxes_file else
                     getattr(detector, "name", "person detector") if detector is not None else WHOLE_IMAGE)

    def check_inputs(self, photos: Sequence[str | os.PathLike], videos: Sequence[str | os.PathLike] = ()
                     ) -> list[Path]:
        """Before a run: a JSON boxes file with a video (or a folder of one video's frames) is a
        :class:`DataError` (its keys are photos; a video needs a MOTChallenge ``.txt`` file); the
        photos it has no entry for get one warning (:func:`check_coverage`) and are returned."""
        if self.boxes is None or self.boxes_file is None:
            return []
        if videos:
            raise video_refusal(self.boxes_file, videos[0])
        return check_coverage(self.boxes, photos, self.boxes_file) if photos else []

    def reset(self) -> None:
        """A new video: the next call detects. A JSON boxes file has no boxes for a video's
        frames: :class:`DataError` (the same as :meth:`check_inputs`, in case it was not run)."""
        if self.boxes is not None and self.boxes_file is not None:
            raise video_refusal(self.boxes_file, "its frames")
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
