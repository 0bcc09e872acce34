"""Evaluate pose weights on a config's val split: COCO keypoint AP, or PCKh for MPII's files (data.format=mpii).

    hrseg test pose hrnet_w32_coco_256x192 --weights pose_hrnet_w32_256x192.pth
    hrseg test pose CONFIG --weights W --det-json person_detections.json --flip
    hrseg test pose CONFIG --weights W --backend openvino --batch-size 16
    hrseg test pose --weights work_dirs/synthetic_mini/best.pth  # no CONFIG: the one the checkpoint records
    python tools/test_pose.py ...          # the same command, from a clone
CONFIG is a file or the name of a shipped config (`hrseg configs pose`).
"""
from __future__ import annotations

import argparse

from hrseg.cli import positive_int
from hrseg.commands import add_backend_arg, evaluation_config, evaluation_parser, for_task, test_options
from hrseg.tasks.pose import load_pose_config, test


@for_task("pose")
def main(argv: list[str] | None = None) -> int:
    ap = evaluation_parser(__doc__, "hrseg or official checkpoint (default: the config's run)")
    ap.add_argument("--det-json", default=None, help="person detections (COCO results JSON) instead of GT boxes")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                    help="flip test (default: the config's test.flip)")
    ap.add_argument("--batch-size", type=positive_int, default=None,
                    help="person crops per forward, across images (default: the config's data.val_batch_size)")
    add_backend_arg(ap)
    args = ap.parse_args(argv)
    options = test_options(args) + ([f"data.val_batch_size={args.batch_size}"] if args.batch_size else [])
    cfg, options = evaluation_config(args, load_pose_config, options)
    test(cfg, args.weights, args.out_dir, options, det_file=args.det_json, flip=args.flip)
    return 0

