"""Track objects through per-frame boxes (ByteTrack), or score tracking results (HOTA, IDF1, MOTA).

    hrseg track det.txt --out results.txt                  # MOTChallenge detections -> tracks
    hrseg track results.txt --eval gt.txt                  # HOTA, IDF1, MOTA, ID switches
    hrseg track det.txt --out results.txt --eval gt.txt    # both
    hrseg track det.txt --out results.txt --lost-frames 60 --min-hits 1
    hrseg track det.txt --out results.txt --frames img1/   # + each track's look (re-identification)

Files are MOTChallenge text (frame,id,x,y,w,h,score,...; frames 1-based). The tracker runs
ByteTrack's association through the [track] extra's trackers library (hrseg/inference/tracking.py);
the metrics are trackers.eval's, which reproduce TrackEval's (docs/video.md). Needs the [track]
extra (docs/video.md says how it installs beside one OpenCV).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from hrseg.data.mot import read_mot, write_mot
from hrseg.errors import DataError
from hrseg.evaluation.mot import evaluate_mot, format_metrics
from hrseg.inference.tracking import TrackerConfig, track_mot
from hrseg.utils.image_io import IMAGE_SUFFIXES

FORMATS = ("mot",)


def _options(ap: argparse.ArgumentParser) -> None:
    """One --option per TrackerConfig field (not sigmas), defaults and meanings from it."""
    helps = {"high_thr": "first-pass score threshold", "low_thr": "detections below this are ignored",
             "new_track_thr": "least score that starts a track", "match_thr": "least similarity x score of a first-pass match", "low_match_thr": "the same in the second pass",
             "lost_frames": "frames a lost track is kept", "frame_rate": "frames a second (scales lost-frames)",
             "min_hits": "frames before a new track gets an id", "oks_weight": "OKS's share for keypoints",
             "kpt_thr": "keypoint score that counts",
             "reid_thr": "with --frames: a new track takes a lost track's id when they look this alike",
             "reid_frames": "with --frames: how long a lost track can be re-identified",
             "look_gate": "with --frames: a track and a clear detection less alike than this are not matched (0: off)",
             "swap_margin": "with --frames: ids swapped in a crossing are given back by this margin of look (2: off)"}
    for f in dataclasses.fields(TrackerConfig):
        if f.name in helps and f.name not in ("oks_weight", "kpt_thr"):  # boxes only here
            ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default) if f.default is not None else float,
                            default=f.default,
                            help=f"{helps[f.name]} (default {f.default})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    results = args.input
    if args.out is not None:
        config = TrackerConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrackerConfig)
                                  if hasattr(args, f.name)})
        images = None
        if args.frames is not None:
            images = sorted(p for p in Path(args.frames).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise DataError(f"{args.frames}: no frames found ({', '.join(IMAGE_SUFFIXES)})")
        tracks = track_mot(read_mot(args.input), config, images=images)
        write_mot(args.out, tracks)
        print(f"{args.out}: {len(tracks)} boxes in {len({t.id for t in tracks})} tracks")
        results = args.out
    if args.eval is not None:
        metrics = evaluate_mot(args.eval, results)
        print(json.dumps(metrics, indent=2) if args.json else format_metrics({results: metrics}))
    return 0
