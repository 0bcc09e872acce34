"""Evaluate segmentation weights on a config's val split: per-class IoU table and mIoU.

    hrseg test seg hrnetv2_w48_cityscapes_1024x512 --weights hrnet_cs_8090_torch11.pth
    hrseg test seg CONFIG --weights W --mode slide --scales 0.5 0.75 1.0 1.25 1.5 1.75 --flip
    hrseg test seg CONFIG --data-root ../shared/data/seg_mini/cityscapes
    hrseg test seg --weights work_dirs/seg_synthetic_mini/best.pth # no CONFIG: the one the checkpoint records
    python tools/test_seg.py ...           # the same command, from a clone
CONFIG is a file or the name of a shipped config (`hrseg configs seg`).
Without --weights the newest checkpoint of the config's own training run is used.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hrseg.cli import positive_float
from hrseg.commands import add_backend_arg, evaluation_config, evaluation_parser, for_task, test_options
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
    options = test_options(args, mode=args.mode, scales=args.scales, flip=args.flip)
    if args.data_root is not None:  # as given (not under $HRSEG_HOME), not generated
        options += [f"data.root={Path(args.data_root).resolve()}", "data.synthetic=None"]
    cfg, options = evaluation_config(args, load_seg_config, options)
    test(cfg, args.weights, args.out_dir, options)
    return 0

