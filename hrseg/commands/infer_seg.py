"""Segment photographs: per image a label map, a colourised mask and an overlay (PNG, image size).

    hrseg infer seg photo.jpg                           # weights of `hrseg train seg`
    hrseg infer seg photos/ --weights hrnet_w48_cityscapes_cls19_1024x2048_trainset.pth --out results/
    hrseg infer seg big.jpg --weights W --mode slide --crop-size 1024x1024 --palette cityscapes
    python tools/infer_seg.py ...                       # the same command, from a clone
Official HRNet-Semantic-Segmentation checkpoints (Cityscapes, PASCAL-Context, with or without
OCR) are used as they are; hrseg checkpoints carry their own config.
"""
from __future__ import annotations

import argparse

from hrseg.cli import parse_size
from hrseg.commands import for_task, home_path, inference_parser
from hrseg.tasks.segmentation import (
    config_for_weights, find_images, infer, load_seg_config, resolve_weights,
)

# The embedded training run (`hrseg train seg`) writes its checkpoints here (under $HRSEG_HOME if set).
DEFAULT_WORK_DIR = "work_dirs/seg_synthetic_mini"


@for_task("seg")
def main(argv: list[str] | None = None) -> int:
    ap = inference_parser(__doc__, "image files or folders of images", "hrseg or official segmentation checkpoint "
                          f"(default: the newest checkpoint in {DEFAULT_WORK_DIR})",
                          "config for model and test settings (default: the one recorded in an hrseg "
                          "checkpoint, or the official recipe for an official file)", "outputs/seg")
    ap.add_argument("--palette", choices=["cityscapes", "pascal_context", "generated"], default=None,
                    help="colours of the mask (default: the dataset's)")
    ap.add_argument("--mode", choices=["whole", "slide"], default=None, help="default: the config's test.mode")
    ap.add_argument("--crop-size", type=parse_size, default=None, help="sliding window HxW (with --mode slide)")
    ap.add_argument("--scales", type=float, nargs="+", default=None, help="multi-scale, e.g. 0.75 1.0 1.25")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="flip test")
    ap.add_argument("--alpha", type=float, default=0.5, help="opacity of the mask in the overlay")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    images = find_images(args.images)
    weights = resolve_weights(args.weights, home_path(DEFAULT_WORK_DIR))
    cfg = load_seg_config(args.config, args.cfg_options) if args.config else \
        config_for_weights(weights, args.cfg_options)
    for key, value in (("mode", args.mode), ("crop_size", list(args.crop_size) if args.crop_size else None),
                       ("scales", args.scales), ("flip", args.flip)):
        if value is not None:
            cfg["test"][key] = value
    written = infer(images, cfg, weights, args.out, palette=args.palette, alpha=args.alpha)
    print(f"{len(written)} image(s) segmented; outputs in {args.out}")
    return 0

