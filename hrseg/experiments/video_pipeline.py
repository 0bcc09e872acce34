"""Tracking end to end: a person detector and a pose model through the pose predictor with
``--track`` on synthetic video sequences (docs/video.md's end-to-end table).

For each sequence (``<root>/<split>``: frames in ``img1/``, MOTChallenge ``gt/gt.txt``, the
COCO-video file) and each detection interval (``det_every``: the detector every frame, or every
N frames with the boxes following the people's keypoints in between), the frames go one by one
through ``predictor(image)``, as ``hrseg infer pose FRAMES/ --track`` runs them, timed from
reading the frame to the tracked people (frames/s end to end). Scored:

- tracking: the people's boxes with their ``track_id`` against ``gt.txt``
  (:func:`hrseg.evaluation.mot.evaluate_mot`: HOTA, IDF1, MOTA, ID switches);
- keypoints: COCO keypoint AP against the COCO-video file, and jitter (the mean absolute second
  difference of the keypoints scoring ``kpt_thr`` in three consecutive frames of a track, over
  the ground truth's), raw and through the One-Euro filter (``--smooth``). The filter runs after
  the tracker on the same results, which is what ``--smooth`` does; where the detector skips
  frames, ``--smooth`` would also move the next frame's boxes with the smoothed keypoints, so
  the smoothed row is given for every-frame detection only.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hrseg.data.mot import MotBox, write_mot
from hrseg.data.synthetic.video import sequence_paths
from hrseg.evaluation.coco_keypoints import evaluate_keypoints
from hrseg.evaluation.mot import evaluate_mot
from hrseg.experiments.tracking_study import second_difference, shown, video_keypoints
from hrseg.inference.predictor import Predictor
from hrseg.inference.smoothing import KeypointSmoother
from hrseg.inference.tracking import keypoint_array
from hrseg.utils.image_io import read_image

__all__ = ["run_sequence", "score_sequence", "video_study"]

Frames = dict[int, list[dict[str, Any]]]


def run_sequence(predictor: Predictor, frames: Sequence[Path]) -> tuple[Frames, float]:
    """Each frame's tracked people (1-based frame numbers) and the seconds it all took."""
    predictor.reset()
    out: Frames = {}
    start = time.perf_counter()
    for number, path in enumerate(frames, 1):
        out[number] = predictor(read_image(path))
    return out, time.perf_counter() - start


def _image_ids(coco_file: Path) -> dict[int, int]:
    coco = json.loads(coco_file.read_text())
    return {im["frame_id"] + 1: im["id"] for im in coco["images"]}


def score_sequence(root: Path, split: str, tracked: Frames, smoother: KeypointSmoother | None = None,
                   kpt_thr: float = 0.3) -> dict[str, float]:
    """Tracking metrics, keypoint AP and jitter of one sequence's tracked people (smoothed by
    ``smoother`` when given); jitter NaN when no keypoint was tracked three frames running
    (:func:`~hrseg.experiments.tracking_study.second_difference`; the table shows "n/a")."""
    paths = sequence_paths(root, split)
    image_ids, truth = _image_ids(paths["coco"]), video_keypoints(root, split)
    boxes, results, series = [], [], {}
    if smoother is not None:
        smoother.reset()
    for frame in sorted(tracked):
        people = smoother(tracked[frame]) if smoother is not None else tracked[frame]
        for p in people:
            k = keypoint_array(p["keypoints"])
            results.append({"image_id": image_ids[frame], "category_id": 1, "score": p["score"],
                            "keypoints": [float(v) for v in k.reshape(-1)]})
            if p.get("track_id") is not None:
                boxes.append(MotBox(frame, p["track_id"], *p["bbox"][:4], p.get("box_score", p["score"])))
                series[(frame, p["track_id"])] = k
    with tempfile.TemporaryDirectory() as tmp:
        metrics = evaluate_mot(paths["gt"], write_mot(Path(tmp) / "results.txt", boxes))
    ap = evaluate_keypoints(paths["coco"], results, verbose=False) if results else {"AP": 0.0, "AP .5": 0.0}
    base = second_difference(truth, lambda key: truth[key][:, 2] > 0)
    jitter = second_difference(series, lambda key: series[key][:, 2] >= kpt_thr) / base
    return {**metrics, "AP": ap["AP"], "AP .5": ap["AP .5"], "jitter": jitter}


def video_study(sequences: Sequence[tuple[str | Path, str]], build: Callable[[int], Predictor],
                det_every: Sequence[int] = (1, 5), smoother: KeypointSmoother | None = None,
                progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Per detection interval (and smoothed by ``smoother``, for every-frame detection): metrics
    averaged over the ``(root, split)`` sequences and frames/s over all their frames.
    ``build(n)``: the tracking pose predictor detecting every ``n`` frames."""
    rows = []
    for n in det_every:
        predictor, per_seq, per_seq_smooth, frames_total, seconds = build(n), [], [], 0, 0.0
        for root, split in sequences:
            frames = sorted(sequence_paths(root, split)["images"].glob("*.jpg"))
            tracked, took = run_sequence(predictor, frames)
            frames_total, seconds = frames_total + len(frames), seconds + took
            per_seq.append(score_sequence(Path(root), split, tracked))
            if n == 1 and smoother is not None:
                per_seq_smooth.append(score_sequence(Path(root), split, tracked, smoother))
            progress(f"det every {n}: {Path(root).name}/{split} {len(frames) / took:.1f} frames/s, "
                     f"IDF1 {per_seq[-1]['IDF1']:.3f}")
        for smoothed, scores in ((False, per_seq), (True, per_seq_smooth)):
            if scores:
                rows.append({"det_every": n, "smooth": smoothed, "frames_per_s": frames_total / seconds,
                             **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]}})
    return rows


def format_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    keys = ("HOTA", "IDF1", "MOTA", "IDSW", "AP", "jitter")
    lines = ["| detector every | smoothed | frames/s | " + " | ".join(keys) + " |",
             "|---:|---|---:|" + "---:|" * len(keys)]
    for r in rows:
        cells = [shown(r[k], 0 if k == "IDSW" else 3) for k in keys if k in r]
        lines.append(f"| {r['det_every']} | {'yes' if r['smooth'] else 'no'} | {r['frames_per_s']:.1f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)
