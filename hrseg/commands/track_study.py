"""Measure the tracker and the keypoint smoother on synthetic sequences (docs/video.md's tables).

    hrseg track-study datasets/tracking_study                 # 3 sequences of each kind, ~3 min
    hrseg track-study datasets/tracking_study --sequences 6   # docs/video.md's tables

Writes (once) under ROOT the val splits of two kinds of sequence, K of each: videoS/ (the
synthetic video split of seed S: 4 walkers, 200 frames of 256x320, detections = ground truth +
noise) and noisy_motS/ (8 walkers, 300 frames of 360x640, more misses and false positives;
seed 7 + S), then prints Markdown tables, each averaged over the K sequences of a kind: the
trackers on det.txt (hrseg's, the trackers library's ByteTrack with its defaults, and boxmot's
where it is installed), hrseg's with and without OKS on detections that carry keypoints, and
the One-Euro filter's jitter and error on noisy ground-truth keypoints (video0), and keypoint AP
and jitter through the tracker and the filter (noisy ground truth, or a pose model's results
with --results). Needs the [track] extra (docs/video.md).

    hrseg track-study datasets/tracking_study --joint-motion 12   # test.smooth.joint_noise, then exit

--joint-motion K prints each joint's share of the motion (:func:`hrseg.inference.smoothing.joint_motion`)
in the ground truth of the train splits of video1..videoK (under ROOT/tuning, written once): never
the sequences the tables measure.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hrseg.cli import CommandParser, positive_int, seed_value
from hrseg.data.coco import load_json, require_fields
from hrseg.data.synthetic.video import DetectionNoise, VideoParams, ensure_synthetic_video
from hrseg.evaluation.mot import format_metrics
from hrseg.experiments.tracking_study import (compare_trackers, compare_with_keypoints, jitter_study, shown,
                                              smoothing_ap, video_keypoints)
from hrseg.errors import DataError
from hrseg.inference.smoothing import joint_motion

ONE_EURO = ((0.5, 0.0), (1.0, 0.0), (0.5, 0.05), (1.0, 0.05), (2.0, 0.05), (1.0, 0.1), (1.0, 0.2))
SMOOTHING = ([{"process_noise": 0.6, "score_weight": 0.0}] + [{"process_noise": q} for q in (0.6, 1.2, 2.0)] +
             [{"filter": "one_euro", "min_cutoff": m, "beta": b} for m, b in ONE_EURO])
NOISY_MOT = dict(num_val=300, image_size=(360, 640),
                 params=VideoParams(num_people=8, min_height=80, max_height=220),
                 noise=DetectionNoise(miss=0.1, jitter=0.07, low_score=0.15, false_positives=1.0))


def _read_results(path: Path) -> list:
    """--results, read once: a JSON list of COCO keypoint results with what the tables read of each
    (``hrseg test pose``'s: centre and scale too); else one :class:`DataError` naming it."""
    results = load_json(path, "--results (COCO keypoint results)")
    if not isinstance(results, list):
        raise DataError(f"{path}: --results is a list of COCO keypoint results (hrseg test pose's), "
                        f"not a JSON {type(results).__name__}")
    for r in results:
        require_fields(r, ("image_id", "keypoints", "score", "center", "scale"), path, "keypoint result")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="folder for the sequences (written once, reused)")
    ap.add_argument("--sequences", type=positive_int, default=3, help="sequences of each kind (default 3)")
    ap.add_argument("--seed", type=seed_value, default=0, help="the noise of the keypoint detections (default 0)")
    ap.add_argument("--results", default=None, help="a pose model's COCO keypoint results on video0's val split "
                    "(hrseg test pose): its keypoint AP and jitter with and without smoothing, instead of noisy "
                    "ground truth's")
    ap.add_argument("--joint-motion", type=int, default=None, metavar="K",
                    help="print test.smooth.joint_noise measured on the train splits of video1..videoK, and exit")
    args = ap.parse_args(argv)
    if min(args.sequences, args.joint_motion or 1) < 1:
        ap.error("--sequences and --joint-motion must be at least 1")
    results = _read_results(Path(args.results)) if args.results else None  # before the sequences and tables
    root, k = Path(args.root), range(args.sequences)
    if args.joint_motion:
        tracks = {}
        for s in range(1, args.joint_motion + 1):
            ensure_synthetic_video(root / "tuning" / f"video{s}", num_val=0, seed=s, log=None)
            truth = video_keypoints(root / "tuning" / f"video{s}", "train")
            tracks.update({(frame, (s, track)): kpts for (frame, track), kpts in truth.items()})
        print(f"joint_noise={[round(v, 4) for v in joint_motion(tracks)]}")
        return 0
    for s in k:
        ensure_synthetic_video(root / f"video{s}", num_train=0, num_val=200, seed=s, log=None)
        ensure_synthetic_video(root / f"noisy_mot{s}", log=None, **{**NOISY_MOT, "num_train": 0, "seed": 7 + s})
    for kind in ("video", "noisy_mot"):
        print(f"\n### {kind}: det.txt against gt.txt, mean of {len(k)} sequence(s)\n")
        print(format_metrics(compare_trackers(root / f"{kind}{s}" / "val" for s in k)))
    print(f"\n### video: detections with keypoints (ground truth + noise), mean of {len(k)} sequence(s)\n")
    print(format_metrics(compare_with_keypoints(((root / f"video{s}", "val") for s in k), seed=args.seed)))
    print("\n### video0: the keypoint filters on ground-truth keypoints + noise (2% of the box height)\n")
    print("| filter | jitter / gt's, raw | smoothed | error px, raw | smoothed |\n|---|---:|---:|---:|---:|")
    for r in jitter_study(root / "video0", settings=SMOOTHING, seed=args.seed):
        print(f"| {r['setting']} | {shown(r['jitter_raw'], 2)} | {shown(r['jitter_smoothed'], 2)} | "
              f"{r['error_raw']:.2f} | {r['error_smoothed']:.2f} |")
    what = args.results or "ground-truth keypoints + noise (2% of the box height)"
    print(f"\n### video0: keypoint AP and jitter through the tracker and the filter: {what}\n")
    print("| filter | AP | AP .5 | jitter / gt's |\n|---|---:|---:|---:|")
    for r in smoothing_ap(root / "video0", results=results, settings=SMOOTHING[:3] + SMOOTHING[5:], seed=args.seed):
        print(f"| {r['setting']} | {r['AP']:.3f} | {r['AP .5']:.3f} | {shown(r['jitter'], 2)} |")
    return 0
