"""Track objects through per-frame boxes (ByteTrack), or score tracking results (HOTA, IDF1, MOTA).

    hrseg track det.txt --out results.txt                  # MOTChallenge detections -> tracks
    hrseg track results.txt --eval gt.txt                  # HOTA, IDF1, MOTA, ID switches
    hrseg track det.txt --out results.txt --eval gt.txt    # both
    hrseg track det.txt --out results.txt --lost-frames 60 --min-hits 3
    hrseg track det.txt --out results.txt --frames img1/   # + each track's look (re-identification)

Files are MOTChallenge text (frame,id,x,y,w,h,score,...; frames 1-based). The tracker runs
ByteTrack's association through the [track] extra's trackers library (hrseg/inference/tracking.py);
the metrics are trackers.eval's, which reproduce TrackEval's (docs/video.md). Needs the [track]
extra (docs/video.md says how it installs beside one OpenCV).

Detections in a sequence's layout (SEQ/det/det.txt) are tracked at the frameRate of
SEQ/seqinfo.ini unless --frame-rate is given. Results and ground truth with an id twice in one
frame are refused, as TrackEval refuses them. --frames: a warning when the folder has fewer
frames than the detections span (_frames says why not an error).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable

from hrseg.cli import CommandParser
from hrseg.data.mot import MotBox, read_mot, seqinfo_frame_rate, sequence_info, write_mot
from hrseg.errors import DataError
from hrseg.evaluation.mot import evaluate_mot, format_metrics
from hrseg.inference.tracking import TrackerConfig, setting_problem, track_mot
from hrseg.utils.image_io import IMAGE_SUFFIXES

FORMATS = ("mot",)
log = logging.getLogger("hrseg")


def _options(ap: argparse.ArgumentParser) -> None:
    """One --option per TrackerConfig field (not sigmas), defaults and meanings from it; --frame-rate
    defaults to None (the sequence's seqinfo.ini, else TrackerConfig's, :func:`_frame_rate`)."""
    helps = {"high_thr": "first-pass score threshold", "low_thr": "detections below this are ignored",
             "new_track_thr": "least score that starts a track",
             "match_thr": "least similarity x score of a first-pass match",
             "low_match_thr": "the same in the second pass",
             "lost_frames": "how long a lost track is kept, in frames at 30 frames/s (scaled by the frame rate)",
             "frame_rate": "frames a second (scales lost-frames)",
             "min_hits": "a new track gets its id on the N-th frame it is seen in (at least 2; the first frame's "
                         "objects get theirs at once)",
             "reid_thr": "with --frames: a new track takes a lost track's id when they look this alike",
             "reid_frames": "with --frames: how long a lost track can be re-identified",
             "look_gate": "with --frames: a track and a clear detection less alike than this are not matched (0: off)",
             "swap_margin": "with --frames: ids swapped in a crossing are given back by this margin of look (at least "
                            "0; 2: off)"}
    for f in dataclasses.fields(TrackerConfig):
        if f.name not in helps:  # boxes only here: no keypoint settings
            continue
        default, shown = f.default, f.default
        if f.name == "frame_rate":
            default, shown = None, f"frameRate of SEQ/seqinfo.ini for SEQ/det/det.txt, else {f.default}"
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=_setting_type(f.name, type(f.default)), default=default,
                        help=f"{helps[f.name]} (default {shown})")


def _setting_type(name: str, kind: type) -> Callable[[str], Any]:
    """The argparse type of TrackerConfig's ``name`` (int or float): its text read, then checked by the
    tracker's own check (:func:`~hrseg.inference.tracking.setting_problem`), which a config's test.track meets."""
    def setting(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if (problem := setting_problem(name, value)) is not None:
            raise argparse.ArgumentTypeError(problem)
        return value
    return setting


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="MOTChallenge detections to track (with --out), or results to score (--eval only)")
    ap.add_argument("--format", choices=FORMATS, default="mot", help="the input's format (default mot)")
    ap.add_argument("--out", default=None, help="write the tracks here (MOTChallenge results)")
    ap.add_argument("--eval", default=None, metavar="GT", help="score against this MOTChallenge ground truth")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    ap.add_argument("--frames", default=None, metavar="DIR", help="the sequence's frames (img1/, sorted by name): "
                    "each track's look gives people who leave and come back their id again")
    _options(ap)
    args = ap.parse_args(argv)
    if args.out is None and args.eval is None:
        ap.error("give --out FILE (track the detections), --eval GT (score the results), or both")
    if args.json and args.eval is None:
        ap.error("--json prints the metrics of --eval as JSON: give --eval GT too")
    return _run(args)


def _frame_rate(args: argparse.Namespace) -> float | None:
    """--frame-rate; else, for detections in a sequence's layout (SEQ/det/det.txt), the frameRate
    of SEQ/seqinfo.ini, logged; else None (TrackerConfig's default)."""
    if args.frame_rate is not None:
        return args.frame_rate
    info = sequence_info(args.input)
    if info is None:
        return None
    rate = seqinfo_frame_rate(info)
    log.info("%s: tracking at its frameRate, %g frames/s (--frame-rate sets another)", info, rate)
    return rate


def _frames(folder: str, detections: list[MotBox]) -> list[Path]:
    """The frame files of ``folder`` sorted by name (the N-th is frame N, as in MOTChallenge's img1/,
    000001.jpg ...); DataError when it is not a folder or has none."""
    if not Path(folder).is_dir():
        raise DataError(f"{folder}: --frames folder not found" if not Path(folder).exists() else
                        f"{folder}: --frames is a folder of frame images, not a file")
    images = sorted(p for p in Path(folder).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{folder}: no frames found ({', '.join(IMAGE_SUFFIXES)})")
    span = max((b.frame for b in detections), default=0)
    # In MOTChallenge img1/ has one image for each frame of the sequence and no detection lies past
    # its last (TrackEval refuses frames past seqLength), so fewer images than the detections span
    # means a wrong or half-copied folder: say so. A warning, not an error: the frames are only the
    # look cue; every frame is still tracked, those past the folder by motion alone (as without
    # --frames). More images than the detections span is usual (the last frames may have no box).
    if len(images) < span:
        log.warning("%s: %d frames, but the detections span %d: frames after %d are tracked by motion alone, "
                    "without the look", folder, len(images), span, len(images))
    return images


def _run(args: argparse.Namespace) -> int:
    results = args.input
    if args.out is not None:
        settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrackerConfig)
                    if hasattr(args, f.name) and f.name != "frame_rate"}
        if (rate := _frame_rate(args)) is not None:
            settings["frame_rate"] = rate
        detections = read_mot(args.input)
        images = _frames(args.frames, detections) if args.frames is not None else None
        tracks = track_mot(detections, TrackerConfig(**settings), images=images)
        write_mot(args.out, tracks)
        print(f"{args.out}: {len(tracks)} boxes in {len({t.id for t in tracks})} tracks")
        results = args.out
    if args.eval is not None:
        metrics = evaluate_mot(args.eval, results)
        print(json.dumps(metrics, indent=2) if args.json else format_metrics({results: metrics}))
    return 0
