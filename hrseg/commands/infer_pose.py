"""Keypoints on photographs and videos: skeleton overlays and JSON.

Per image an overlay PNG with the skeleton and a JSON; per video the annotated video and one JSON
line per frame.

    hrseg infer pose photo.jpg --weights pose_hrnet_w32.mmpose1x_coco_256x192    # published, by name
    hrseg infer pose photos/ --weights pose_hrnet_w32_256x192.pth --out results/
    hrseg infer pose a.jpg b.jpg --boxes boxes.json
    hrseg infer pose ../shared/data/coco_mini/images --boxes ../shared/data/coco_mini/person_keypoints.json \\
        --weights W --batch-size 8 --profile      # ground-truth boxes; images/s and time by stage
    hrseg infer pose clip.mp4 --weights W --det-every 5 --backend openvino
    hrseg infer pose clip.mp4 --weights W --track --smooth           # identities, steady keypoints
    hrseg infer pose frames/ --weights W --track --boxes dets.txt    # a folder = one video; MOT boxes
    python tools/infer_pose.py ...         # the same command, from a clone
Person boxes come from --boxes (per image, COCO detection results, or a COCO annotation file's
ground-truth boxes; for a video a MOTChallenge .txt file, boxes per frame), else from a person detector: --det-weights (a published name, a
`hrseg train det` or OpenMMLab checkpoint), by default torchvision's COCO Faster R-CNN by name (when
it cannot be had, each whole image is one person, with a warning that says how to get it). Without
--weights the newest checkpoint of the embedded training run (`hrseg train pose`) is used.
"""
from __future__ import annotations

from hrseg.cli import fraction, positive_int
from hrseg.commands import add_backend_arg, add_track_args, for_task, home_path, inference_parser, test_options
from hrseg.errors import ConfigError
from hrseg.inference.person_boxes import check_det_every
from hrseg.tasks.person_boxes import DEFAULT_PERSON_DETECTOR
from hrseg.tasks.pose import infer, load_pose_config, resolve_weights

# The embedded training run (`hrseg train pose`) writes its checkpoints here (under $HRSEG_HOME if set).
DEFAULT_WORK_DIR = "work_dirs/synthetic_mini"
# Person crops per forward: the batch issue 13's backend table was measured at.
DEFAULT_CROP_BATCH = 8


@for_task("pose")
def main(argv: list[str] | None = None) -> int:
    ap = inference_parser(__doc__, "image files, folders of images or video files",
                          "published weights by name (hrseg weights list), an hrseg, mmpose or official checkpoint",
                          "config for model, input size and test settings (default: the one recorded in an "
                          "hrseg checkpoint, or the official COCO recipe for an official file)", "outputs/pose")
    ap.add_argument("--boxes", default=None, help="person boxes: {image: [[x,y,w,h(,score)],...]}, COCO detection "
                    "results, or a COCO instances / keypoints file (its ground-truth person boxes)")
    ap.add_argument("--det-weights", default=None, help="person detector: a published name or a detection "
                    f"checkpoint (default: {DEFAULT_PERSON_DETECTOR})")
    ap.add_argument("--det-every", type=positive_int, default=1,
                    help="in videos, detect people every N frames (default 1); "
                    "in between, each person's box follows its keypoints (not with --boxes: no detector runs)")
    ap.add_argument("--det-score-thr", type=fraction, default=0.5, help="keep person boxes (a detector's or a "
                    "--boxes file's) scoring at least this")
    ap.add_argument("--kpt-thr", type=fraction, default=0.3, help="draw joints scoring at least this")
    ap.add_argument("--batch-size", type=positive_int, default=DEFAULT_CROP_BATCH,
                    help=f"person crops per forward, across images (default {DEFAULT_CROP_BATCH})")
    ap.add_argument("--profile", action="store_true", help="write images/s and the time by stage (decode, crop, "
                    "model, postprocess, write) to OUT/profile.json and the log")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    add_backend_arg(ap)
    add_track_args(ap)
    args = ap.parse_args(argv)
    if args.boxes and args.det_weights:
        raise ConfigError("give --boxes or --det-weights, not both")
    check_det_every(args.boxes, args.det_every)
    weights = resolve_weights(args.weights, home_path(DEFAULT_WORK_DIR))
    options = test_options(args)
    cfg = load_pose_config(args.config, options) if args.config else None
    infer(args.images, cfg, weights, args.out, cfg_options=options, boxes_file=args.boxes,
          det_weights=args.det_weights, det_score_thr=args.det_score_thr, det_every=args.det_every,
          kpt_thr=args.kpt_thr, batch_size=args.batch_size, profile=args.profile, track=args.track,
          smooth=args.smooth)
    return 0

