"""Boxes on photographs: an overlay PNG (boxes, class names, scores) and a JSON per image.

    hrseg infer det photo.jpg --weights work_dirs/frcnn_w32/best.pth
    hrseg infer det a.jpg b.jpg --out results/ --score-thr 0.5
    hrseg infer det photo.jpg --weights W --backend openvino     # exported (self-checked, cached) first
    hrseg infer det clip.mp4 --weights W --track                  # an id per object across frames
    python tools/infer_det.py ...          # the same command, from a clone
Without --weights the newest checkpoint of the embedded training run (`hrseg train det`)
is used. The model and its class names are those the checkpoint recorded.
"""
from __future__ import annotations

from hrseg.cli import fraction
from hrseg.commands import add_backend_arg, add_track_args, for_task, home_path, inference_parser, test_options
from hrseg.tasks.detection import infer, load_det_config, resolve_det_weights

# The embedded training run (`hrseg train det`) writes its checkpoints here (under $HRSEG_HOME if set).
DEFAULT_WORK_DIR = "work_dirs/mini_fasterrcnn"


@for_task("det")
def main(argv: list[str] | None = None) -> int:
    ap = inference_parser(__doc__, "image files, folders of images or video files",
                          "published detector by name (hrseg weights list) or an hrseg / OpenMMLab checkpoint",
                          "config for the model (default: the one the checkpoint recorded)", "outputs/det")
    ap.add_argument("--score-thr", type=fraction, default=None,
                    help="keep boxes scoring at least this (default 0.3, or an exported file's own threshold when "
                    "higher); never under the model's own box threshold (0.05: model.box_score_thresh)")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    add_backend_arg(ap)
    add_track_args(ap, smooth=False)
    args = ap.parse_args(argv)
    weights = resolve_det_weights(args.weights, home_path(DEFAULT_WORK_DIR))
    options = test_options(args)
    cfg = load_det_config(args.config, options) if args.config else None
    infer(args.images, cfg, weights, args.out, cfg_options=options, score_thr=args.score_thr, track=args.track)
    return 0

