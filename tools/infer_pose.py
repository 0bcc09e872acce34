#!/usr/bin/env python
"""Keypoints on photographs: an overlay PNG with the COCO skeleton and a JSON per image.

    python tools/infer_pose.py photo.jpg --weights pose_hrnet_w32_256x192.pth
    python tools/infer_pose.py a.jpg b.jpg --boxes boxes.json --out results/
    python tools/infer_pose.py photo.jpg --det-weights detector.pth --weights pose.pth
    python tools/infer_pose.py photo.jpg --weights pose_hrnet_w32.mmpose1x_coco_256x192   # published, by name
Person boxes come from --boxes, else from a person detector: --det-weights (a published name, a
tools/train_det.py or OpenMMLab checkpoint), by default torchvision's COCO Faster R-CNN by name (when
it cannot be had, each whole image is one person, with a warning). Without --weights the newest
checkpoint of the embedded training run (`python tools/train_pose.py`) is used.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hrseg.cli import run_cli
from hrseg.errors import ConfigError
from hrseg.tasks.person_boxes import person_detector
from hrseg.tasks.pose import infer, load_pose_config, resolve_weights

# The embedded training run (`python tools/train_pose.py`) writes its checkpoints here.
DEFAULT_WORK_DIR = Path("work_dirs") / "synthetic_mini"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files or folders of images")
    ap.add_argument("--weights", default=None, help="hrseg or official pose checkpoint")
    ap.add_argument("--config", default=None,
                    help="config for model, input size and test settings (default: the one recorded in an "
                         "hrseg checkpoint, or the official COCO recipe for an official file)")
    ap.add_argument("--boxes", default=None, help="person boxes: {image: [[x,y,w,h(,score)],...]} or COCO detections")
    ap.add_argument("--det-weights", default=None, help="person detector: a published name or a checkpoint "
                    "(default: fasterrcnn_resnet50_fpn_v2.torchvision_coco)")
    ap.add_argument("--det-score-thr", type=float, default=0.5, help="keep person boxes scoring at least this")
    ap.add_argument("--out", default="outputs/pose", help="output folder (default: outputs/pose)")
    ap.add_argument("--kpt-thr", type=float, default=0.3, help="draw joints scoring at least this")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if args.boxes and args.det_weights:
        raise ConfigError("give --boxes or --det-weights, not both")
    weights = resolve_weights(args.weights, DEFAULT_WORK_DIR)
    cfg = load_pose_config(args.config, args.cfg_options) if args.config else None
    detector = None if args.boxes else person_detector(args.det_weights, args.det_score_thr)
    infer(args.images, cfg, weights, args.out, cfg_options=args.cfg_options, boxes_file=args.boxes,
          person_detector=detector, kpt_thr=args.kpt_thr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
