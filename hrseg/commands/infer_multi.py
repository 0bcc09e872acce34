"""Every head on photographs and videos: boxes, masks, people's keypoints and the scene's labels.

Per image an overlay PNG (the scene's tint, instance masks, boxes, skeletons), a JSON (boxes,
masks as COCO RLE, keypoints of the people, the scene's class areas) and the label map
`<stem>_labels.png` (as `hrseg infer seg` writes it); per video the annotated video and one JSON
line per frame.

    hrseg infer multi photo.jpg --weights work_dirs/multi_synthetic_mini/best.pth
    hrseg infer multi photos/ --weights W --out results/ --score-thr 0.5
    hrseg infer multi clip.mp4 --weights W --track --smooth     # ids across frames, steady keypoints
    python tools/infer_multi.py ...          # the same command, from a clone
Without --weights the newest checkpoint of the embedded training run (`hrseg train multi`) is used.
The model, its classes, keypoint set and scene classes are those the checkpoint recorded.
"""
from __future__ import annotations

from hrseg.cli import fraction
from hrseg.commands import add_backend_arg, add_track_args, for_task, home_path, inference_parser, test_options
from hrseg.tasks.multi import infer, load_multi_config, resolve_weights

# The embedded training run (`hrseg train multi`) writes its checkpoints here (under $HRSEG_HOME if set).
DEFAULT_WORK_DIR = "work_dirs/multi_synthetic_mini"


@for_task("multi")
def main(argv: list[str] | None = None) -> int:
    ap = inference_parser(__doc__, "image files, folders of images or video files",
                          "an hrseg multi-task checkpoint", "config for the model (default: the one the checkpoint "
                          "recorded)", "outputs/multi")
    ap.add_argument("--score-thr", type=fraction, default=None,
                    help="keep detections scoring at least this (default 0.3, or an exported file's own threshold "
                    "when higher)")
    ap.add_argument("--kpt-thr", type=fraction, default=0.3, help="draw joints scoring at least this")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    add_backend_arg(ap)
    add_track_args(ap)
    args = ap.parse_args(argv)
    weights = resolve_weights(args.weights, home_path(DEFAULT_WORK_DIR))
    options = test_options(args)
    cfg = load_multi_config(args.config, options) if args.config else None
    infer(args.images, cfg, weights, args.out, cfg_options=options, score_thr=args.score_thr, kpt_thr=args.kpt_thr,
          track=args.track, smooth=args.smooth)
    return 0
