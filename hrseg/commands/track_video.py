"""Track people end to end (a trained person detector + pose model) on synthetic videos, scored.

    hrseg track-video datasets/tracking_study --pose-weights P.pth --det-weights D.pth
    hrseg track-video ROOT --sequences 6 --det-every 1 5 --json video.json
    hrseg track-video ROOT --cfg-options test.track.reid_thr=0.7      # the pose config's tracker settings
    hrseg track-video ROOT --config configs/pose/video_mini.py        # test settings from this file
    python tools/track_video.py ...          # the same command, from a clone

The val splits of the synthetic video sequences video0..videoK-1 under ROOT (written once, as
`hrseg track-study` writes them: 4 walkers, 200 frames of 256x320) go frame by frame through the
pose predictor with --track (the detector every N frames, the boxes following the keypoints in
between), as `hrseg infer pose FRAMES/ --track --det-every N` runs them. One table, means over the
sequences: HOTA, IDF1, MOTA, ID switches against gt.txt (trackers.eval), keypoint AP against the
COCO-video file, keypoint jitter over the ground truth's, raw and with --smooth (the config's
test.smooth), and frames/s end to end (reading the frame to the tracked people). Without weights,
the newest checkpoints of `hrseg train pose video_mini` and `hrseg train det video_mini` (the main
job's small pose model and the mini detector, trained on frames of other synthetic videos).
Needs the [track] extra (docs/video.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hrseg.cli import CommandParser, fraction, positive_int
from hrseg.commands import add_backend_arg, home_path
from hrseg.data.synthetic.video import ensure_synthetic_video
from hrseg.experiments.video_pipeline import format_rows, video_study
from hrseg.tasks.detection import TASK as DET
from hrseg.tasks.person_boxes import load_person_detector
from hrseg.tasks.pose import TASK as POSE
from hrseg.utils.io import write_json

POSE_RUN, DET_RUN = "work_dirs/video_pose_mini", "work_dirs/video_mini"


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="folder for the sequences (written once, reused)")
    ap.add_argument("--sequences", type=positive_int, default=3, help="sequences video0..videoK-1 (default 3)")
    ap.add_argument("--frames", type=positive_int, default=200,
                    help="frames in each sequence (default 200, as track-study)")
    ap.add_argument("--pose-weights", default=None, help=f"pose weights (default: the newest in {POSE_RUN})")
    ap.add_argument("--det-weights", default=None, help=f"person detector weights (default: the newest in {DET_RUN})")
    ap.add_argument("--det-score-thr", type=fraction, default=0.5,
                    help="person boxes scoring at least this (default 0.5)")
    ap.add_argument("--det-every", type=positive_int, nargs="+", default=[1, 5],
                    help="detection intervals (default 1 5)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--config", default=None, help="the pose config whose test settings (test.track, test.smooth) "
                    "to run with (default: the one recorded in the pose checkpoint)")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                    help="the pose config's settings, e.g. test.track.* and test.smooth.* (docs/video.md)")
    add_backend_arg(ap)
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    pose_weights = POSE.resolve_weights(args.pose_weights, home_path(POSE_RUN), "--pose-weights")
    det_weights = DET.resolve_weights(args.det_weights, home_path(DET_RUN), "--det-weights")
    # the detector first, once for every interval: its file and task are checked before the pose model is built
    detector = load_person_detector(det_weights, args.det_score_thr)

    def build(det_every: int, smooth: bool = False):
        options = [*args.cfg_options, *([f"test.backend={args.backend}"] if args.backend else [])] or None
        cfg = POSE.load_config(args.config, options) if args.config else None
        return POSE.build_predictor(pose_weights, cfg, options, track=True, smooth=smooth, person_detector=detector,
                                    det_every=det_every)

    smoother = build(1, smooth=True).smoother  # the pose weights, their task and the options checked before any frame
    root = Path(args.root)
    for s in range(args.sequences):
        ensure_synthetic_video(root / f"video{s}", num_train=0, num_val=args.frames, seed=s, log=None)
    rows = video_study([(root / f"video{s}", "val") for s in range(args.sequences)], build, args.det_every,
                       smoother=smoother)
    print(format_rows(rows))
    if args.json:
        write_json(args.json, {"pose_weights": str(pose_weights), "det_weights": str(det_weights), "rows": rows})
    return 0
