"""Evaluate segmentation weights on a config's val split: per-class IoU table and mIoU.

    hrseg test seg hrnetv2_w48_cityscapes_1024x512 --weights hrnet_cs_8090_torch11.pth
    hrseg test seg CONFIG --weights W --mode slide --scales 0.5 0.75 1.0 1.25 1.5 1.75 --flip
    hrseg test seg CONFIG --data-root ../shared/data/seg_mini/cityscapes
    python tools/test_seg.py ...           # the same command, from a clone
CONFIG is a file or the name of a shipped config (`hrseg configs seg`).
Without --weights the newest checkpoint of the config's own training run is used.
"""
from __future__ import annotations

import argparse

from hrseg.cli import positive_float
from hrseg.commands import add_backend_arg, evaluation_parser, for_task, in_home, test_options
from hrseg.tasks.segmentation import load_seg_config, test


@for_task("seg")
def main(argv: list[str] | None = None) -> int:
    ap = evaluation_parser(__doc__, "hrseg or official checkpoint (default: the config's run)")
    ap.add_argument("--data-root", default=None, help="dataset root (default: the config's data.root)")
    ap.add_argument("--mode", choices=["whole", "slide"], default=None, help="default: the config's test.mode")
    ap.add_argument("--scales", type=positive_float, nargs="+", default=None,
                    help="multi-scale test, e.g. 0.75 1.0 1.25")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                    help="flip test (default: the config's test.flip)")
    add_backend_arg(ap)
    args = ap.parse_args(argv)
    cfg = in_home(load_seg_config(args.config, test_options(args, mode=args.mode, scales=args.scales, flip=args.flip)))
    if args.data_root is not None:
        cfg["data"]["root"] = args.data_root
        cfg["data"]["synthetic"] = None
    test(cfg, args.weights, args.out_dir, args.cfg_options)
    return 0

