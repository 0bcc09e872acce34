"""Evaluate detector weights with COCO box (and mask) AP on a config's val split or another COCO file.

    hrseg test det faster_rcnn_hrnetv2p_w32_1x_coco --weights frcnn_w32.pth
    hrseg test det mini_fasterrcnn --ann-file instances.json --img-dir images/
    hrseg test det CONFIG --weights W --backend onnxruntime      # the exported detector's AP
    hrseg test det --weights RUN/best.pth                        # no CONFIG: the one the checkpoint records
    python tools/test_det.py ...           # the same command, from a clone
CONFIG is a file or the name of a shipped config (`hrseg configs det`).
Without --weights the newest checkpoint of the config's run (its work_dir) is used.
"""
from __future__ import annotations

from hrseg.commands import add_backend_arg, evaluation_config, evaluation_parser, for_task, test_options
from hrseg.tasks.detection import load_det_config, test


@for_task("det")
def main(argv: list[str] | None = None) -> int:
    ap = evaluation_parser(__doc__, "hrseg detector checkpoint (default: the config's run)")
    ap.add_argument("--ann-file", default=None, help="COCO instances JSON to evaluate on instead of the val split")
    ap.add_argument("--img-dir", default=None, help="the folder of --ann-file's images")
    add_backend_arg(ap)
    args = ap.parse_args(argv)
    cfg, options = evaluation_config(args, load_det_config, test_options(args))
    test(cfg, args.weights, args.out_dir, options, ann_file=args.ann_file, img_dir=args.img_dir)
    return 0

