#!/usr/bin/env python
"""Boxes on photographs: an overlay PNG (boxes, class names, scores) and a JSON per image.

    python tools/infer_det.py photo.jpg --weights work_dirs/frcnn_w32/best.pth
    python tools/infer_det.py a.jpg b.jpg --out results/ --score-thr 0.5
Without --weights the newest checkpoint of the embedded training run (`python tools/train_det.py`)
is used. The model and its class names are those the checkpoint recorded.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hrseg.cli import run_cli
from hrseg.tasks.detection import infer, load_det_config, resolve_det_weights

# The embedded training run (`python tools/train_det.py`) writes its checkpoints here.
DEFAULT_WORK_DIR = Path("work_dirs") / "mini_fasterrcnn"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files or folders of images")
    ap.add_argument("--weights", default=None, help="hrseg detector checkpoint")
    ap.add_argument("--config", default=None, help="config for the model (default: the one the checkpoint recorded)")
    ap.add_argument("--out", default="outputs/det", help="output folder (default: outputs/det)")
    ap.add_argument("--score-thr", type=float, default=0.3, help="keep boxes scoring at least this (default 0.3)")
    args = ap.parse_args(argv)
    weights = resolve_det_weights(args.weights, DEFAULT_WORK_DIR)
    cfg = load_det_config(args.config) if args.config else None
    infer(args.images, cfg, weights, args.out, score_thr=args.score_thr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
