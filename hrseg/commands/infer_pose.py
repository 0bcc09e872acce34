"""Keypoints on photographs: an overlay PNG with the COCO skeleton and a JSON per image.

    hrseg infer pose photo.jpg --weights pose_hrnet_w32_256x192.pth
    hrseg infer pose a.jpg b.jpg --boxes boxes.json --out results/
    hrseg infer pose photo.jpg --det-weights detector.pth --weights pose.pth
    python tools/infer_pose.py ...         # the same command, from a clone
Person boxes come from --boxes, or from a detector (--det-weights, a tools/train_det.py checkpoint);
without either each whole image is one person box; without --weights the newest checkpoint of
the embedded training run (`hrseg train pose`) is used.
"""
from __future__ import annotations

from hrseg.commands import for_task, home_path, inference_parser
from hrseg.errors import ConfigError
from hrseg.tasks.pose import config_for_weights, infer, load_pose_config, resolve_weights

# The embedded training run (`hrseg train pose`) writes its checkpoints here (under $HRSEG_HOME if set).
DEFAULT_WORK_DIR = "work_dirs/synthetic_mini"


@for_task("pose")
def main(argv: list[str] | None = None) -> int:
    ap = inference_parser(__doc__, "image files", "hrseg or official pose checkpoint",
                          "config for model, input size and test settings (default: the one recorded in an "
                          "hrseg checkpoint, or the official COCO recipe for an official file)", "outputs/pose")
    ap.add_argument("--boxes", default=None, help="person boxes: {image: [[x,y,w,h(,score)],...]} or COCO detections")
    ap.add_argument("--det-weights", default=None, help="hrseg detector checkpoint that finds the people")
    ap.add_argument("--det-score-thr", type=float, default=0.5, help="keep person boxes scoring at least this")
    ap.add_argument("--kpt-thr", type=float, default=0.3, help="draw joints scoring at least this")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if args.boxes and args.det_weights:
        raise ConfigError("give --boxes or --det-weights, not both")
    weights = resolve_weights(args.weights, home_path(DEFAULT_WORK_DIR))
    cfg = load_pose_config(args.config, args.cfg_options) if args.config else config_for_weights(weights, args.cfg_options)
    detector = None
    if args.det_weights:
        from hrseg.tasks.detection import person_detector

        detector = person_detector(args.det_weights, args.det_score_thr)
    infer(args.images, cfg, weights, args.out, boxes_file=args.boxes, person_detector=detector, kpt_thr=args.kpt_thr)
    return 0

