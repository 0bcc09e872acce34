"""Identities across video frames: ByteTrack's association as Roboflow's ``trackers`` library
implements it in its BoT-SORT tracker (the ``[track]`` extra), with hrseg's glue: its result
dicts in and out, one tracker per class, keypoint OKS in the association for people, and person
boxes from keypoints for detection every N frames.

The API, for ``hrseg infer pose|det --track`` and ``hrseg track``::

    tracker = Tracker()                      # pose people, MOT boxes: "bbox" [x, y, w, h]
    tracker = Tracker(box_format="xyxy")     # hrseg's detections: "bbox" [x1, y1, x2, y2]
    for frame in video:
        people = tracker.update(people)      # copies, in order, each with "track_id": int >= 1 or None
    boxes = boxes_from_keypoints(people, aspect_ratio=w / h)  # next frame's [x, y, w, h, score]
    results = track_mot(read_mot("det.txt"))  # MOTChallenge detections -> boxes with track ids

A detection is a dict with ``"bbox"``, ``"score"`` and optionally ``"keypoints"`` (hrseg's
``{name: [x, y, score]}``, ``[[x, y, score], ...]`` or COCO's flat list) and ``"label"`` (each
label is tracked on its own; ids are unique over all). ``track_id`` None: not (yet) a confirmed
track: a new object's frames before its ``TrackerConfig.min_hits``-th (objects of the video's first
frame get ids at once) or a low-score detection that continued no track. Ids are never reused; a track
not seen for ``lost_frames`` frames (counted at 30 frames/s: a second at any ``frame_rate``) ends.

How it associates (ByteTrack's way; the library's ``BoTSORTTracker`` with camera-motion
compensation off unless ``camera_motion``, no appearance features): detections scoring
``high_thr`` or more are matched to the Kalman-predicted tracks (centre, width, height)
first, by Hungarian assignment on similarity times detection score, at least ``match_thr``;
those between ``low_thr`` and ``high_thr`` then to the tracks left, at least ``low_match_thr``
(the low-score second pass); an unmatched detection scoring ``new_track_thr`` or more starts a
track; unmatched tracks are kept ``lost_frames`` frames (the lost-track buffer). The library's
``ByteTrackTracker`` does the same with a corner-state Kalman filter and no score fusion: it
lost 9 points of IDF1 on the noisy sequences of docs/video.md.

OKS for people (:class:`_PoseSimilarity`) and the looks (:mod:`hrseg.inference.appearance`, with
the frame): docs/video.md, "Which library, and how the glue works". The settings are checked when
a :class:`TrackerConfig` is made (:func:`setting_problem`, also ``hrseg track``'s option types), and
:class:`Tracker` looks for the library at once: bad settings and a missing extra fail before the
first frame.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from itertools import combinations
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from hrseg.data.mot import MotBox, by_frame
from hrseg.errors import ConfigError, missing_tracking
from hrseg.inference.appearance import FrameLooks, similarities, similarity
from hrseg.inference.person_boxes import boxes_from_keypoints, keypoint_array
from hrseg.inference.pose_postprocess import oks_iou
from hrseg.meta.keypoints import OKS_SIGMAS
from hrseg.utils.image_io import read_image

# boxes_from_keypoints and keypoint_array live in hrseg.inference.person_boxes (this module's API since its start)
__all__ = ["Tracker", "TrackerConfig", "boxes_from_keypoints", "keypoint_array", "setting_problem", "track_mot"]

_FRACTIONS = {"high_thr", "low_thr", "new_track_thr", "match_thr", "low_match_thr", "oks_weight", "kpt_thr", "reid_thr",
              "look_gate"}
_WHOLE = {"lost_frames": 0, "min_hits": 2, "reid_frames": 0}  # whole numbers, and their least value


def setting_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for :class:`TrackerConfig`'s field ``name``; None: nothing. The one
    check of a config's ``test.track`` (:meth:`TrackerConfig.__post_init__`) and ``hrseg track``'s options."""
    if value is None and name in ("reid_thr", "look_gate", "swap_margin", "sigmas", "limbs"):
        return None
    if name == "limbs":  # a keypoint set's fact (KeypointSet.limb_links), not a config's
        pairs = isinstance(value, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(j, int) and j >= 0 for j in p)
            for p in value)
        return None if pairs else f"expected pairs of keypoint indices, got {value!r}"
    if name == "camera_motion":
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    values = list(value) if name == "sigmas" and isinstance(value, (list, tuple)) else [value]
    kinds, what = (int, "a whole number") if name in _WHOLE else ((int, float), "a finite number")
    if not values or not all(isinstance(v, kinds) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return f"expected {'one per keypoint, each ' if name == 'sigmas' else ''}{what}, got {value!r}"
    if name in _FRACTIONS and not 0 <= value <= 1:
        return f"must be between 0 and 1, got {value}"
    if name in ("frame_rate", "sigmas"):
        return None if min(values) > 0 else f"must be above 0, got {value}"
    if value < _WHOLE.get(name, 0):
        why = " (the library confirms a new track on its second frame at the earliest)" if name == "min_hits" else ""
        return f"must be at least {_WHOLE.get(name, 0)}{why}, got {value}"
    return None


@dataclass(frozen=True)
class TrackerConfig:
    """The association's settings (the library's defaults but ``match_thr`` 0.1 for its 0.2) and
    the OKS glue's (``oks_weight`` 0.7 of 0.3, 0.5, 0.7): the best of docs/video.md's sweeps on six
    synthetic training sequences.

    high_thr: the first pass's score threshold; low_thr: detections below it are ignored;
    new_track_thr: the least score that starts a track; match_thr, low_match_thr: the least
    fused similarity of a match in the first and the second pass; lost_frames: how long a lost
    track is kept (at ``frame_rate``); min_hits: a new track gets its id on the min_hits-th frame it is
    seen in (at least 2: the library can first confirm a track on its second frame);
    camera_motion: compensate camera motion (sparse optical flow) when ``update`` is given the
    frame; oks_weight: OKS's share of the similarity for people; kpt_thr: the keypoint score a
    joint needs to count in OKS and in boxes from keypoints; sigmas: OKS sigmas (None: COCO's for 17 keypoints,
    their mean for other sets); limbs: the keypoint links a person's look is drawn along (the set's
    ``limb_links``; None: COCO's for 17 keypoints, the box's middle for other sets); reid_thr: a new track takes
    the id of a track of its label lost within ``reid_frames`` frames whose look
    (:mod:`hrseg.inference.appearance`) is at least this similar (None: never; needs the frame in ``update``);
    look_gate: a track and a detection whose box is clean (overlaps no other by more than IoU 0.3, not cut by
    the frame's edge) are not matched when their looks are less alike than this (None: motion alone decides;
    needs the frame);
    keypoint_score_power: a person's score in the association is its detection score times the
    mean of its keypoint scores to this power (0: the detection score alone; a model's setting:
    configs/pose/video_mini.py, docs/video.md); swap_margin: ids swapped in a crossing are given
    back when the looks say so by this margin (None: never; needs the frame).
    """

    high_thr: float = 0.6
    low_thr: float = 0.1
    new_track_thr: float = 0.7
    match_thr: float = 0.1
    low_match_thr: float = 0.5
    lost_frames: int = 30
    frame_rate: float = 30.0
    min_hits: int = 2
    camera_motion: bool = False
    oks_weight: float = 0.7
    kpt_thr: float = 0.3
    sigmas: tuple[float, ...] | None = None
    limbs: tuple[tuple[int, int], ...] | None = None
    reid_thr: float | None = 0.6
    reid_frames: int = 150
    look_gate: float | None = 0.92
    keypoint_score_power: float = 0.0
    swap_margin: float | None = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            if (problem := setting_problem(f.name, getattr(self, f.name))) is not None:
                raise ConfigError(f"test.track.{f.name}: {problem}")


def _xyxy(bbox: Sequence[float], box_format: str) -> list[float]:
    x, y, a, b = (float(v) for v in bbox[:4])
    return [x, y, x + a, y + b] if box_format == "xywh" else [x, y, a, b]


def _moved(keypoints: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Keypoints that were in box ``old`` (xyxy), moved and scaled into box ``new``."""
    scale = np.maximum(new[2:] - new[:2], 1e-6) / np.maximum(old[2:] - old[:2], 1e-6)
    out = keypoints.copy()
    out[:, :2] = (new[:2] + new[2:]) / 2 + (keypoints[:, :2] - (old[:2] + old[2:]) / 2) * scale
    return out


class _PoseSimilarity:
    """The association similarity handed to the library (its ``iou`` argument): IoU, blended
    with OKS where the track and the detection both have keypoints, and 0 where a clean
    detection's look and the track's remembered look differ (``TrackerConfig.look_gate``)."""

    def __init__(self, config: TrackerConfig) -> None:
        from trackers.utils.iou import IoU  # optional extra [track]

        self.config, self.iou = config, IoU()
        self.library: Any = None  # the library tracker whose tracks the rows are
        self.frame_boxes = np.zeros((0, 4))  # this frame's detections (xyxy), keypoints and clean looks
        self.frame_keypoints: list[np.ndarray | None] = []
        self.frame_looks: list[np.ndarray | None] = []
        self.memory: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # library id -> (keypoints, xyxy)
        self.track_looks: dict[int, np.ndarray] = {}  # library id -> its id's remembered look

    def normalize_for_fusion(self, similarity: np.ndarray) -> np.ndarray:
        """The library multiplies this by the detection scores: IoU and OKS are in [0, 1] already."""
        return similarity

    def compute(self, track_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
        sim = np.asarray(self.iou.compute(track_boxes, det_boxes), dtype=np.float64)
        if not sim.size or not (self.memory or self.track_looks):
            return sim
        by_state = {tuple(t.get_state_bbox()): t.tracker_id for t in self.library.tracks}
        rows = [by_state.get(tuple(box), -1) for box in track_boxes]
        columns = [self._index_of(det) for det in det_boxes]
        w = self.config.oks_weight
        for r, box in enumerate(track_boxes):
            remembered = self.memory.get(rows[r])
            if remembered is None:
                continue
            track_kpts = _moved(remembered[0], remembered[1], box)
            for c, j in enumerate(columns):
                oks = None if j is None else self._oks(track_kpts, box, self.frame_keypoints[j], det_boxes[c])
                if oks is not None:
                    sim[r, c] = (1 - w) * sim[r, c] + w * oks
        sim[self._unlike(rows, columns)] = 0.0
        return sim

    def _unlike(self, rows: list[int], columns: list[int | None]) -> np.ndarray:
        """(T, D) True where the track's remembered look and the clean detection's look are less
        alike than ``look_gate``."""
        out = np.zeros((len(rows), len(columns)), dtype=bool)
        if not self.track_looks:  # also: the gate is off (the tracker then hands no looks over)
            return out
        r = [i for i, t in enumerate(rows) if t in self.track_looks]
        c = [i for i, j in enumerate(columns) if j is not None and self.frame_looks[j] is not None]
        if r and c:
            alike = similarities([self.track_looks[rows[i]] for i in r], [self.frame_looks[columns[i]] for i in c])
            out[np.ix_(r, c)] = alike < self.config.look_gate
        return out

    def _index_of(self, box: np.ndarray) -> int | None:
        """The position in this frame's detections of the one with this box."""
        hits = np.flatnonzero((self.frame_boxes == box).all(axis=1))
        return int(hits[0]) if len(hits) else None

    def _oks(self, a: np.ndarray, box_a: np.ndarray, b: np.ndarray | None, box_b: np.ndarray) -> float | None:
        if b is None or len(a) != len(b):
            return None
        seen = (a[:, 2] >= self.config.kpt_thr) & (b[:, 2] >= self.config.kpt_thr)
        if seen.sum() < 2:
            return None
        sigmas = np.asarray(self.config.sigmas or (OKS_SIGMAS if len(a) == len(OKS_SIGMAS)
                                                   else [float(np.mean(OKS_SIGMAS))] * len(a)))
        area_a, area_b = (float(np.prod(np.maximum(x[2:] - x[:2], 1.0))) for x in (box_a, box_b))
        return float(oks_iou(a[seen], b[None, seen], area_a, np.array([area_b]), sigmas[seen])[0])


class Tracker:
    """ByteTrack's association over hrseg's detection dicts, one frame at a time (module docstring)."""

    def __init__(self, config: TrackerConfig = TrackerConfig(), box_format: str = "xywh",
                 score_key: str = "score") -> None:
        if box_format not in ("xywh", "xyxy"):
            raise ValueError(f"box_format is 'xywh' or 'xyxy', not {box_format!r}")
        self.config = self.given_config = config  # reset(frame_rate): a video's rate, else the given one
        self.box_format, self.score_key, self._next_id, self._frame = box_format, score_key, 1, 0
        self._per_label: dict[Any, tuple[Any, _PoseSimilarity]] = {}
        self._ids: dict[tuple[Any, int], int] = {}  # (label, library id) -> our id (from 1)
        self._looks: dict[int, tuple[Any, int, np.ndarray | None]] = {}  # our id -> (label, last frame, look)
        self._crossed: set[int] = set()  # our ids seen overlapping another box since their last clean look
        try:  # optional extra [track], looked for now, not at the first frame
            import trackers  # noqa: F401
        except ImportError as e:
            raise missing_tracking() from e

    def _library(self, label: Any) -> tuple[Any, _PoseSimilarity]:
        """The label's library tracker (its settings checked when the :class:`TrackerConfig` was made)."""
        if label not in self._per_label:
            from trackers import BoTSORTTracker  # optional extra [track]

            c = self.config
            similarity = _PoseSimilarity(c)
            similarity.library = BoTSORTTracker(
                lost_track_buffer=c.lost_frames, frame_rate=c.frame_rate, track_activation_threshold=c.new_track_thr,
                minimum_consecutive_frames=c.min_hits, minimum_iou_threshold_first_assoc=c.match_thr,
                minimum_iou_threshold_second_assoc=c.low_match_thr, high_conf_det_threshold=c.high_thr,
                enable_cmc=c.camera_motion, iou=similarity)
            self._per_label[label] = (similarity.library, similarity)
        return self._per_label[label]

    def update(self, detections: Iterable[Mapping[str, Any]], frame: np.ndarray | None = None
               ) -> list[dict[str, Any]]:
        """This frame's detections, copied in order, each with ``"track_id"`` (int >= 1 or None).
        Call once per frame, also with no detections (lost tracks age). ``frame`` (H, W, 3 RGB):
        for the looks (re-identification, the look gate) and ``TrackerConfig.camera_motion``."""
        out = [{**d, "track_id": None} for d in detections]
        self._frame += 1
        groups: dict[Any, list[int]] = {label: [] for label in self._per_label}
        keypoints = [keypoint_array(d["keypoints"]) if d.get("keypoints") else None for d in out]
        scores = [self._score(d, k) for d, k in zip(out, keypoints)]
        for i, d in enumerate(out):
            if scores[i] >= self.config.low_thr:
                groups.setdefault(d.get("label"), []).append(i)
        boxes = np.array([_xyxy(d["bbox"], self.box_format) for d in out], dtype=np.float64).reshape(-1, 4)
        looks = None
        if frame is not None and (self.config.reid_thr is not None or self.config.look_gate is not None):
            looks = FrameLooks(frame, boxes, keypoints, self.config.kpt_thr, limbs=self.config.limbs)
        for label, index in groups.items():
            tracked = self._track(label, index, boxes, keypoints, scores, frame, looks)
            found = [(index[i], library_id) for i, library_id in tracked if library_id >= 0]
            taken = {self._ids[(label, t)] for _, t in found if (label, t) in self._ids}
            for i, library_id in found:
                key = (label, library_id)
                if key not in self._ids:
                    look = looks.of(i) if looks and self.config.reid_thr is not None else None
                    self._ids[key] = self._relink(label, look, taken) or self._new_id()
                    taken.add(self._ids[key])
            if looks is not None and self.config.reid_thr is not None and self.config.swap_margin is not None:
                self._unswap(label, found, looks)
            for i, library_id in found:
                track_id = out[i]["track_id"] = self._ids[(label, library_id)]
                old = self._looks.get(track_id, (label, 0, None))[2]
                self._looks[track_id] = (label, self._frame, looks.updated(i, old) if looks else None)
        if self._frame % 64 == 0:  # memory flat in the video's length: forget looks too old to re-identify
            self._looks = {k: v for k, v in self._looks.items() if self._frame - v[1] <= self.config.reid_frames}
            self._crossed &= set(self._looks)
        return out

    def _score(self, detection: Mapping[str, Any], keypoints: np.ndarray | None) -> float:
        """The detection's score in the association (:attr:`TrackerConfig.keypoint_score_power`);
        ``keypoints``: its (K, 3) keypoints, or None."""
        score, power = float(detection[self.score_key]), self.config.keypoint_score_power
        if power and keypoints is not None:
            score *= max(float(keypoints[:, 2].mean()), 0.0) ** power
        return score

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _unswap(self, label: Any, found: list[tuple[int, int]], looks: FrameLooks) -> None:
        """Ids given back after a crossing: two tracks that were seen overlapping another box since
        their last clean look and are both clean again in this frame swap their ids when each
        looks more like the other's remembered look (:attr:`TrackerConfig.swap_margin`)."""
        crossed = []
        for i, library_id in found:
            track_id = self._ids[(label, library_id)]
            if not looks.clean(i):
                self._crossed.add(track_id)
            elif track_id in self._crossed:
                self._crossed.discard(track_id)
                crossed.append((i, library_id, track_id))
        for (i, la, a), (j, lb, b) in combinations(crossed, 2):
            now_a, now_b = looks.of(i), looks.of(j)
            seen_a, seen_b = self._looks.get(a, (None, 0, None))[2], self._looks.get(b, (None, 0, None))[2]
            if any(x is None for x in (now_a, now_b, seen_a, seen_b)):
                continue
            kept = similarity(now_a, seen_a) + similarity(now_b, seen_b)
            swapped = similarity(now_a, seen_b) + similarity(now_b, seen_a)
            if swapped > kept + self.config.swap_margin:
                self._ids[(label, la)], self._ids[(label, lb)] = b, a

    def _relink(self, label: Any, look: np.ndarray | None, taken: set[int]) -> int | None:
        """The id of the recently lost track of ``label`` that looks most like ``look``, if it is
        similar enough (:attr:`TrackerConfig.reid_thr`); its old library track keeps no id."""
        if look is None:
            return None
        best, best_sim = None, float(self.config.reid_thr)
        for track_id, (lab, last, seen) in self._looks.items():
            lost = self._frame - last
            if lab == label and seen is not None and track_id not in taken and 0 < lost <= self.config.reid_frames:
                sim = similarity(look, seen)
                if sim >= best_sim:
                    best, best_sim = track_id, sim
        for key in [k for k, v in self._ids.items() if v == best]:
            del self._ids[key]
        return best

    def _track(self, label: Any, index: list[int], boxes: np.ndarray, keypoints: list[np.ndarray | None],
               scores: list[float], frame: np.ndarray | None, looks: FrameLooks | None) -> list[tuple[int, int]]:
        """(position in ``index``, library id or -1) of this frame's detections ``index`` (of
        ``label``) that the library returns; ``scores``: each detection's in the association
        (:meth:`_score`); ``looks``: the frame's looks, for the look gate."""
        import supervision as sv  # optional extra [track] (the library's detection type)

        library, similarity = self._library(label)
        boxes, keypoints = boxes[index], [keypoints[i] for i in index]
        similarity.frame_boxes, similarity.frame_keypoints = boxes, keypoints
        gated = looks is not None and self.config.look_gate is not None
        similarity.frame_looks = [looks.clean_look(i) for i in index] if gated else []
        ours = {t.tracker_id: self._ids.get((label, t.tracker_id)) for t in library.tracks} if gated else {}
        similarity.track_looks = {t: self._looks[o][2] for t, o in ours.items()
                                  if self._looks.get(o, (0, 0, None))[2] is not None}
        result = library.update(sv.Detections(
            xyxy=boxes, confidence=np.array([scores[i] for i in index], dtype=np.float64),
            data={"index": np.arange(len(index))}), frame if self.config.camera_motion else None)
        found = [(int(i), int(t)) for i, t in zip(result.data.get("index", []), result.tracker_id)]
        alive = {t.tracker_id for t in library.tracks}
        similarity.memory = {k: v for k, v in similarity.memory.items() if k in alive}
        self._ids = {k: v for k, v in self._ids.items() if k[0] != label or k[1] in alive}  # memory flat: ended go
        for i, library_id in found:
            if library_id >= 0 and keypoints[i] is not None:
                similarity.memory[library_id] = (keypoints[i], boxes[i])
        return found

    def reset(self, frame_rate: float | None = None) -> None:
        """Forget every track (a new video, ids from 1), at its ``frame_rate`` when known (``lost_frames``)."""
        self.config = replace(self.given_config, frame_rate=float(frame_rate)) if frame_rate else self.given_config
        self._per_label.clear()
        self._ids.clear()
        self._looks.clear()
        self._crossed.clear()
        self._next_id, self._frame = 1, 0


def track_mot(detections: Iterable[MotBox], config: TrackerConfig = TrackerConfig(),
              num_frames: int | None = None, images: Sequence[str | os.PathLike] | None = None) -> list[MotBox]:
    """Track MOTChallenge detections (any ids): every frame from 1 to the last (or
    ``num_frames``, or the number of ``images``) goes through the tracker, also frames without
    detections; returns the tracked boxes with their ids (untracked ones are left out, as
    MOTChallenge results have them). ``images``: the sequence's frame files in order (``img1/``),
    for the look of each track (:attr:`TrackerConfig.reid_thr`); without them motion alone."""
    frames, images = by_frame(detections), list(images or [])
    tracker, out = Tracker(config), []
    for frame in range(1, (num_frames or max(max(frames, default=0), len(images))) + 1):
        boxes = frames.get(frame, [])
        image = read_image(images[frame - 1]) if frame <= len(images) else None
        tracked = tracker.update(({"bbox": b.xywh, "score": b.score} for b in boxes), image)
        out += [MotBox(frame, t["track_id"], *b.xywh, b.score) for b, t in zip(boxes, tracked)
                if t["track_id"] is not None]
    return out
