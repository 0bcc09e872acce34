"""Evaluate detector weights with COCO box AP on a config's val split or another COCO file.

    hrseg test det faster_rcnn_hrnetv2p_w32_1x_coco --weights frcnn_w32.pth
    hrseg test det mini_fasterrcnn --ann-file instances.json --img-dir images/
    python tools/test_det.py ...           # the same command, from a clone
CONFIG is a file or the name of a shipped config (`hrseg configs det`).
Without --weights the newest checkpoint of the config's run (its work_dir) is used.
"""
from __future__ import annotations

import argparse

from hrseg.commands import for_task, in_home
from hrseg.tasks.detection import load_det_config, test


@for_task("det")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="the config the weights belong to (model, data, test settings)")
    ap.add_argument("--weights", default=None, help="hrseg detector checkpoint (default: the config's run)")
    ap.add_argument("--ann-file", default=None, help="COCO instances JSON to evaluate on instead of the val split")
    ap.add_argument("--img-dir", default=None, help="the folder of --ann-file's images")
    ap.add_argument("--out-dir", default=None, help="where results and metrics JSON go (default: work_dir)")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    cfg = in_home(load_det_config(args.config, args.cfg_options))
    test(cfg, args.weights, args.ann_file, args.img_dir, args.out_dir)
    return 0

