"""Segment photographs and videos: label maps, colourised masks and overlays.

Per image a label map, a colourised mask and an overlay (PNG, image size); per video the annotated
video and one JSON line per frame (class areas).

    hrseg infer seg photo.jpg                  # the published Cityscapes W48 when cached, else `hrseg train seg`'s
    hrseg infer seg photo.jpg --weights seg_hrnetv2_w48.official_cityscapes     # published, by name
    hrseg infer seg photos/ --weights hrnet_cs_8090_torch11.pth --out results/
    hrseg infer seg big.jpg --weights W --mode slide --crop-size 1024x1024 --palette cityscapes
    hrseg infer seg street.mp4 --weights W --backend openvino
    python tools/infer_seg.py ...              # the same command, from a clone
Published official HRNet-Semantic-Segmentation and mmsegmentation files (`hrseg weights list`) are
known by name or SHA-256 and run as published; another file of theirs needs --config naming its
model. hrseg checkpoints carry their own config.
"""
from __future__ import annotations

import argparse

from hrseg.cli import fraction, parse_size, positive_float
from hrseg.commands import add_backend_arg, for_task, home_path, inference_parser, test_options
from hrseg.tasks.segmentation import default_infer_weights, infer, load_seg_config
from hrseg.visualization.segmentation import PALETTES

# The embedded training run (`hrseg train seg`) writes its checkpoints here (under $HRSEG_HOME if set).
DEFAULT_WORK_DIR = "work_dirs/seg_synthetic_mini"


@for_task("seg")
def main(argv: list[str] | None = None) -> int:
    ap = inference_parser(__doc__, "image files, folders of images or video files",
                          "published weights by name (hrseg weights list), an hrseg, mmseg or official checkpoint "
                          f"(default: the published Cityscapes model when cached, else the newest in {DEFAULT_WORK_DIR})",
                          "config for model and test settings (default: the one recorded in an hrseg "
                          "checkpoint, or the official recipe for an official file)", "outputs/seg")
    ap.add_argument("--palette", choices=PALETTES, default=None,
                    help="colours of the mask (default: the dataset's)")
    ap.add_argument("--mode", choices=["whole", "slide"], default=None, help="default: the config's test.mode")
    ap.add_argument("--crop-size", type=parse_size, default=None,
                    help="sliding window HxW (implies --mode slide; default: the config's test.crop_size)")
    ap.add_argument("--scales", type=positive_float, nargs="+", default=None, help="multi-scale, e.g. 0.75 1.0 1.25")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="flip test")
    ap.add_argument("--alpha", type=fraction, default=0.5, help="opacity of the mask in the overlay")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    add_backend_arg(ap)
    args = ap.parse_args(argv)
    if args.crop_size and args.mode == "whole":
        ap.error("--crop-size is the sliding window's: it has no use with --mode whole")
    args.mode = args.mode or ("slide" if args.crop_size else None)
    weights = args.weights or default_infer_weights(home_path(DEFAULT_WORK_DIR))
    options = test_options(args, mode=args.mode, crop_size=list(args.crop_size) if args.crop_size else None,
                           scales=args.scales, flip=args.flip)
    cfg = load_seg_config(args.config, options) if args.config else None
    infer(args.images, cfg, weights, args.out, cfg_options=options, palette=args.palette, alpha=args.alpha)
    return 0

