"""The measurements of docs/video.md that need no trained model: trackers compared on the same
detections, and the One-Euro filter on noisy ground-truth keypoints.

- :func:`compare_trackers`: on MOTChallenge sequences (``det/det.txt``, ``gt/gt.txt``), hrseg's
  tracker (:class:`hrseg.inference.tracking.Tracker`), the ``trackers`` library's ByteTrack with
  its own defaults, and boxmot's ByteTrack where boxmot is installed (it is not in the
  ``[track]`` extra: AGPL-3.0, and it pins ``opencv-python<5``); each scored by
  :func:`hrseg.evaluation.mot.evaluate_mot`, averaged over the sequences.
- :func:`compare_with_keypoints`: the same on synthetic video splits whose detections carry
  keypoints (ground-truth boxes with :func:`~hrseg.data.synthetic.video.noisy_detections`'
  noise, ground-truth keypoints with Gaussian noise): the tracker with OKS and without.
- :func:`smoothing_ap`: keypoint AP and jitter of keypoint predictions (a pose model's results,
  or noisy ground truth), as they come and after ``--track --smooth``'s tracker and filter.
- :func:`jitter_study`: keypoint jitter (the mean absolute second difference of the visible
  keypoints, in pixels) of noisy ground-truth keypoints, raw and smoothed, over the ground
  truth's own, and the mean distance to the ground truth, for One-Euro settings.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from hrseg.data.mot import MotBox, by_frame, read_mot, write_mot
from hrseg.data.synthetic.video import DetectionNoise, noisy_detections, sequence_paths
from hrseg.evaluation.coco_keypoints import evaluate_keypoints
from hrseg.evaluation.mot import evaluate_mot
from hrseg.inference.smoothing import KeypointSmoother, second_differences
from hrseg.inference.tracking import Tracker, TrackerConfig, keypoint_array, track_mot
from hrseg.tasks.common import SMOOTH_DEFAULTS
from hrseg.utils.image_io import read_image

__all__ = ["compare_trackers", "compare_with_keypoints", "describe", "jitter_study", "keypoint_detections", "second_difference",
           "shown", "smoothing_ap", "video_keypoints"]

Frames = Mapping[int, list[dict[str, Any]]]


def library_bytetrack(dets: Iterable[MotBox]) -> list[MotBox]:
    """``trackers.ByteTrackTracker()`` as the library ships it (its defaults), on MOT boxes."""
    import supervision as sv  # optional extra [track]
    from trackers import ByteTrackTracker  # optional extra [track]

    tracker, out, frames = ByteTrackTracker(), [], by_frame(dets)
    for frame in range(1, max(frames, default=0) + 1):
        boxes = frames.get(frame, [])
        xyxy = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b in boxes], dtype=np.float64).reshape(-1, 4)
        result = tracker.update(sv.Detections(xyxy=xyxy, confidence=np.array([b.score for b in boxes]),
                                              data={"index": np.arange(len(boxes))}))
        out += [MotBox(frame, int(t) + 1, *boxes[int(i)].xywh, boxes[int(i)].score)
                for i, t in zip(result.data.get("index", []), result.tracker_id) if t >= 0]
    return out


def boxmot_bytetrack(dets: Iterable[MotBox], size: tuple[int, int]) -> list[MotBox] | None:
    """boxmot's ByteTrack with its defaults (None when boxmot is not installed); each output box
    is its detection's box (``det_ind``), as the other trackers report."""
    try:  # not an extra of hrseg (module docstring): only where someone installed it
        from boxmot import ByteTrack
    except ImportError:
        return None
    tracker, out, frames = ByteTrack(), [], by_frame(dets)
    blank = np.zeros((*size, 3), np.uint8)
    for frame in range(1, max(frames, default=0) + 1):
        boxes = frames.get(frame, [])
        arr = np.array([[b.x, b.y, b.x + b.w, b.y + b.h, b.score, 0] for b in boxes], dtype=np.float32).reshape(-1, 6)
        for row in tracker.update(arr, blank):
            i = int(row[7])
            if i >= 0:
                out.append(MotBox(frame, int(row[4]), *boxes[i].xywh, boxes[i].score))
    return out


def _size(seqinfo: Path) -> tuple[int, int]:
    info = dict(line.split("=", 1) for line in seqinfo.read_text().splitlines() if "=" in line)
    return int(info["imHeight"]), int(info["imWidth"])


def _scored(gt: Path, runs: Mapping[str, list[MotBox] | None]) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        return {name: evaluate_mot(gt, write_mot(Path(tmp) / f"{i}.txt", boxes))
                for i, (name, boxes) in enumerate(runs.items()) if boxes is not None}


def _mean(per_sequence: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Each tracker's metrics averaged over the sequences (counts too: per sequence)."""
    return {name: {k: float(np.mean([r[name][k] for r in per_sequence])) for k in per_sequence[0][name]}
            for name in per_sequence[0]}


def compare_trackers(sequences: Iterable[str | os.PathLike], config: TrackerConfig = TrackerConfig()
                     ) -> dict[str, dict[str, float]]:
    """Metrics of each tracker on each sequence's det.txt against its gt.txt, averaged over the
    sequences (module docstring)."""
    rows = []
    for seq in map(Path, sequences):
        dets = read_mot(seq / "det" / "det.txt")
        rows.append(_scored(seq / "gt" / "gt.txt", {
            "hrseg (trackers BoT-SORT association + glue), motion alone": track_mot(dets, config),
            "hrseg, + the look from the frames (re-identification)":
                track_mot(dets, config, images=sorted((seq / "img1").glob("*.jpg"))),
            "trackers ByteTrack, library defaults": library_bytetrack(dets),
            "boxmot ByteTrack, library defaults": boxmot_bytetrack(dets, _size(seq / "seqinfo.ini"))}))
    return _mean(rows)


def video_keypoints(root: Path, split: str) -> dict[tuple[int, int], np.ndarray]:
    """(1-based frame, track id) -> ground-truth keypoints (K, 3) of a synthetic video split."""
    coco = json.loads(sequence_paths(root, split)["coco"].read_text())
    frame_of = {im["id"]: im["frame_id"] + 1 for im in coco["images"]}
    return {(frame_of[a["image_id"]], a["track_id"]): keypoint_array(a["keypoints"]) for a in coco["annotations"]}


def _noisy(kpts: np.ndarray, height: float, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Visible keypoints moved by Gaussian noise of ``sigma`` times the box height, score 0.9;
    unlabelled ones score 0."""
    out = kpts.copy()
    seen = kpts[:, 2] > 0
    out[seen, :2] += rng.normal(0, sigma * height, (int(seen.sum()), 2))
    out[:, 2] = np.where(seen, 0.9, 0.0)
    return out


def keypoint_detections(root: str | os.PathLike, split: str = "val", noise: DetectionNoise = DetectionNoise(),
                        kpt_sigma: float = 0.02, seed: int = 0) -> dict[int, list[dict[str, Any]]]:
    """Per frame, detections as a pose model would give them: ground-truth boxes with ``noise``,
    each with its person's keypoints plus Gaussian noise (false positives get keypoints spread
    over their box, scoring 0.5)."""
    paths, rng = sequence_paths(root, split), np.random.default_rng(seed)
    truth = video_keypoints(Path(root), split)
    dets = noisy_detections(read_mot(paths["gt"]), rng, _size(paths["seqinfo"]), noise, keep_ids=True)
    frames: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for d in dets:
        k = truth.get((d.frame, d.id))
        if k is None:
            k = np.column_stack([rng.uniform(d.x, d.x + d.w, 17), rng.uniform(d.y, d.y + d.h, 17), np.full(17, 0.5)])
        else:
            k = _noisy(k, d.h, rng, kpt_sigma)
        frames[d.frame].append({"bbox": d.xywh, "score": d.score, "keypoints": k.tolist()})
    return dict(frames)


def _track_frames(frames: Frames, config: TrackerConfig, images: Sequence[Path] = ()) -> list[MotBox]:
    """``frames``' detections tracked; with the frame ``images``, the tracks' looks too."""
    tracker, out = Tracker(config), []
    for frame in range(1, max(frames, default=0) + 1):
        image = read_image(images[frame - 1]) if frame <= len(images) else None
        for d in tracker.update(frames.get(frame, []), image):
            if d["track_id"] is not None:
                out.append(MotBox(frame, d["track_id"], *d["bbox"], d["score"]))
    return out


def compare_with_keypoints(splits: Iterable[tuple[str | os.PathLike, str]], seed: int = 0,
                           config: TrackerConfig = TrackerConfig()) -> dict[str, dict[str, float]]:
    """Metrics of the tracker with OKS (``config.oks_weight``), without (IoU alone, the same
    association) and of the library's ByteTrack with its defaults, on the keypoint detections
    (:func:`keypoint_detections`) of synthetic video splits ``(root, split)``, averaged."""
    rows = []
    no_oks = TrackerConfig(**{**config.__dict__, "oks_weight": 0.0})
    for root, split in splits:
        frames = keypoint_detections(root, split, seed=seed)
        boxes = [MotBox(f, -1, *d["bbox"], d["score"]) for f, ds in frames.items() for d in ds]
        rows.append(_scored(sequence_paths(root, split)["gt"], {
            f"hrseg, IoU + OKS (weight {config.oks_weight}) + look": _track_frames(
                frames, config, sorted(sequence_paths(root, split)["images"].glob("*.jpg"))),
            f"hrseg, IoU + OKS (weight {config.oks_weight})": _track_frames(frames, config),
            "hrseg, IoU alone": _track_frames(frames, no_oks),
            "trackers ByteTrack, library defaults": library_bytetrack(boxes)}))
    return _mean(rows)


def second_difference(series: Mapping[tuple[int, int], np.ndarray], visible: Callable[[tuple[int, int]], np.ndarray]
                      ) -> float:
    """Mean |x[t+1] - 2 x[t] + x[t-1]| (Euclidean, pixels) over the keypoints visible at all three
    frames; NaN when there is none (nothing tracked three frames running: no jitter to speak of, not 0)."""
    total, count = 0.0, 0
    for seen, second in second_differences(series, visible):
        total, count = total + float(np.linalg.norm(second[seen], axis=1).sum()), count + int(seen.sum())
    return total / count if count else float("nan")


def shown(value: float | None, digits: int = 3) -> str:
    """A table's number with ``digits`` decimals; "n/a" for NaN or None (nothing was counted)."""
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def describe(setting: Mapping[str, Any]) -> str:
    """A smoothing setting (:class:`KeypointSmoother`'s keyword arguments) in a table's words."""
    value = {**SMOOTH_DEFAULTS, **setting}
    if value["filter"] == "kalman":
        return (f"Kalman, process noise {value['process_noise']}, measurement noise {value['measurement_noise']}, "
                f"score weight {value['score_weight']}")
    return f"One-Euro, min_cutoff {value['min_cutoff']}, beta {value['beta']}"


def jitter_study(root: str | os.PathLike, split: str = "val", settings: Sequence[Mapping[str, Any]] = ({},),
                 kpt_sigma: float = 0.02, seed: int = 0, frame_rate: float = 25.0) -> list[dict[str, Any]]:
    """For each setting (:class:`KeypointSmoother`'s keyword arguments): jitter of the smoothed noisy keypoints over the ground
    truth's, the same for the raw noisy keypoints, and both mean distances to the ground truth
    (pixels, visible keypoints). The ids are the ground truth's, so the filter alone is measured."""
    truth = video_keypoints(Path(root), split)
    rng = np.random.default_rng(seed)
    heights = {(b.frame, b.id): b.h for b in read_mot(sequence_paths(root, split)["gt"])}
    noisy = {key: _noisy(k, heights[key], rng, kpt_sigma) for key, k in sorted(truth.items())}
    visible = lambda key: truth[key][:, 2] > 0  # noqa: E731
    base = second_difference(truth, visible)

    def error(series: Mapping[tuple[int, int], np.ndarray]) -> float:
        d = [np.linalg.norm(series[k][visible(k), :2] - truth[k][visible(k), :2], axis=1) for k in series]
        return float(np.concatenate(d).mean())

    rows = []
    for setting in settings:
        smoother, smoothed = KeypointSmoother(**setting, frame_rate=frame_rate), {}
        for frame in sorted({f for f, _ in noisy}):
            people = [{"track_id": t, "keypoints": noisy[(f, t)].tolist()} for f, t in noisy if f == frame]
            for p in smoother(people):
                smoothed[(frame, p["track_id"])] = keypoint_array(p["keypoints"])
        rows.append({"setting": describe(setting), "jitter_raw": second_difference(noisy, visible) / base,
                     "jitter_smoothed": second_difference(smoothed, visible) / base,
                     "error_raw": error(noisy), "error_smoothed": error(smoothed), "gt_jitter_px": base})
    return rows


def _predictions(root: Path, split: str, results: str | os.PathLike | list | None, kpt_sigma: float, seed: int
                 ) -> dict[int, list[dict[str, Any]]]:
    """Per frame, people as the pose model gives them: COCO keypoint ``results`` (their box from
    the crop's centre and scale), or, without results, the ground truth with noise (score 0.9)."""
    coco = json.loads(sequence_paths(root, split)["coco"].read_text())
    frame_of = {im["id"]: im["frame_id"] + 1 for im in coco["images"]}
    frames: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if results is None:
        rng = np.random.default_rng(seed)
        for a in coco["annotations"]:
            k = _noisy(keypoint_array(a["keypoints"]), a["bbox"][3], rng, kpt_sigma)
            frames[frame_of[a["image_id"]]].append({"image_id": a["image_id"], "bbox": a["bbox"], "score": 0.9,
                                                    "keypoints": k.tolist()})
        return dict(frames)
    for r in results if isinstance(results, list) else json.loads(Path(results).read_text()):
        (cx, cy), (sw, sh) = r["center"], r["scale"]
        w, h = sw * 200 / 1.25, sh * 200 / 1.25  # the crop's box without its padding
        frames[frame_of[r["image_id"]]].append({"image_id": r["image_id"], "bbox": [cx - w / 2, cy - h / 2, w, h],
                                                "score": r["score"], "keypoints": keypoint_array(r["keypoints"]).tolist()})
    return dict(frames)


def smoothing_ap(root: str | os.PathLike, split: str = "val", results: str | os.PathLike | list | None = None,
                 settings: Sequence[Mapping[str, Any]] = ({},), kpt_sigma: float = 0.02, seed: int = 0,
                 frame_rate: float = 25.0, kpt_thr: float = 0.3) -> list[dict[str, Any]]:
    """Keypoint AP (pycocotools, the split's COCO-video file) and jitter of keypoint predictions,
    as they come (``setting`` "raw") and smoothed with each setting (:class:`KeypointSmoother`'s
    keyword arguments): the pipeline of ``--track --smooth``
    (hrseg's tracker on the people's boxes and keypoints, then :class:`KeypointSmoother`).
    ``results``: a COCO keypoint results file on the split (``hrseg test pose``'s, with centre
    and scale), or its list as read; None: ground-truth keypoints with noise of ``kpt_sigma`` times the box height.
    Jitter: the mean absolute second difference of the predicted keypoints scoring ``kpt_thr``
    in three consecutive frames of a track, over the ground truth's (its visible keypoints)."""
    root = Path(root)
    gt_file, truth = sequence_paths(root, split)["coco"], video_keypoints(root, split)
    base = second_difference(truth, lambda key: truth[key][:, 2] > 0)
    frames = _predictions(root, split, results, kpt_sigma, seed)
    tracker, tracked = Tracker(), {}
    for frame in range(1, max(frames, default=0) + 1):
        tracked[frame] = tracker.update(frames.get(frame, []))
    rows = []
    for setting in (None, *settings):
        smoother = KeypointSmoother(**setting, frame_rate=frame_rate, kpt_thr=kpt_thr) if setting is not None else None
        series, coco_results = {}, []
        for frame, people in tracked.items():
            for p in smoother(people) if smoother else people:
                k = keypoint_array(p["keypoints"])
                coco_results.append({"image_id": p["image_id"], "category_id": 1, "score": p["score"],
                                     "keypoints": [float(v) for v in k.reshape(-1)]})
                if p["track_id"] is not None:
                    series[(frame, p["track_id"])] = k
        ap = evaluate_keypoints(gt_file, coco_results, verbose=False)
        rows.append({"setting": describe(setting) if setting is not None else "raw", "AP": ap["AP"], "AP .5": ap["AP .5"],
                     "jitter": second_difference(series, lambda key: series[key][:, 2] >= kpt_thr) / base})
    return rows
