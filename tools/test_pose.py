#!/usr/bin/env python
"""Evaluate pose weights with COCO keypoint AP on a config's val split.

    python tools/test_pose.py configs/pose/hrnet_w32_coco_256x192.py --weights pose_hrnet_w32_256x192.pth
    python tools/test_pose.py CONFIG --weights W --det-json person_detections.json --flip
"""
from __future__ import annotations

import argparse
import sys

from hrseg.cli import run_cli
from hrseg.tasks.pose import load_pose_config, test


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="the config the weights belong to (model, data, test settings)")
    ap.add_argument("--weights", default=None, help="hrseg or official checkpoint (default: the config's run)")
    ap.add_argument("--det-json", default=None, help="person detections (COCO results JSON) instead of GT boxes")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                    help="flip test (default: the config's test.flip)")
    ap.add_argument("--out-dir", default=None, help="where results and metrics JSON go (default: work_dir)")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    cfg = load_pose_config(args.config, args.cfg_options)
    test(cfg, args.weights, args.out_dir, det_file=args.det_json, flip=args.flip)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
