#!/usr/bin/env python
"""Segment photographs: per image a label map, a colourised mask and an overlay (PNG, image size).

    python tools/infer_seg.py photo.jpg                           # the published Cityscapes W48 when cached, else `train_seg.py`'s
    python tools/infer_seg.py photos/ --weights hrnet_w48_cityscapes_cls19_1024x2048_trainset.pth --out results/
    python tools/infer_seg.py photo.jpg --weights seg_hrnetv2_w48.official_cityscapes   # published, by name (downloads once)
    python tools/infer_seg.py big.jpg --weights W --mode slide --crop-size 1024x1024 --palette cityscapes
Official HRNet-Semantic-Segmentation checkpoints (Cityscapes, PASCAL-Context, with or without
OCR) are used as they are; hrseg checkpoints carry their own config.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hrseg.cli import parse_size, run_cli
from hrseg.visualization.segmentation import PALETTES
from hrseg.tasks.segmentation import (
    default_infer_weights, infer, load_seg_config,
)

# The embedded training run (`python tools/train_seg.py`) writes its checkpoints here.
DEFAULT_WORK_DIR = Path("work_dirs") / "seg_synthetic_mini"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+", help="image files or folders of images")
    ap.add_argument("--weights", default=None, help="hrseg or official segmentation checkpoint "
                    f"(default: the newest checkpoint in {DEFAULT_WORK_DIR})")
    ap.add_argument("--config", default=None,
                    help="config for model and test settings (default: the one recorded in an hrseg "
                         "checkpoint, or the official recipe for an official file)")
    ap.add_argument("--out", default="outputs/seg", help="output folder (default: outputs/seg)")
    ap.add_argument("--palette", choices=PALETTES, default=None,
                    help="colours of the mask (default: the dataset's)")
    ap.add_argument("--mode", choices=["whole", "slide"], default=None, help="default: the config's test.mode")
    ap.add_argument("--crop-size", type=parse_size, default=None, help="sliding window HxW (with --mode slide)")
    ap.add_argument("--scales", type=float, nargs="+", default=None, help="multi-scale, e.g. 0.75 1.0 1.25")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="flip test")
    ap.add_argument("--alpha", type=float, default=0.5, help="opacity of the mask in the overlay")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    weights = args.weights or default_infer_weights(DEFAULT_WORK_DIR)
    options = list(args.cfg_options)
    for key, value in (("mode", args.mode), ("crop_size", list(args.crop_size) if args.crop_size else None),
                       ("scales", args.scales), ("flip", args.flip)):
        if value is not None:
            options.append(f"test.{key}={value}")
    cfg = load_seg_config(args.config, options) if args.config else None
    written = infer(args.images, cfg, weights, args.out, cfg_options=options, palette=args.palette, alpha=args.alpha)
    print(f"{len(written)} image(s) segmented; outputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
