"""Evaluate multi-task weights: box, mask and keypoint AP (on detected people) and mIoU in one table.

    hrseg test multi synthetic_mini                      # the run of `hrseg train multi`
    hrseg test multi multi_hrnetv2p_w32_1x_coco --weights multi_w32.pth
    hrseg test multi CONFIG --weights W --ann-file instances.json --keypoint-file person_keypoints.json \
        --img-dir images/ [--semantic-dir labels/]
    hrseg test multi CONFIG --weights multi.onnx         # an exported file (hrseg export), on its own
    hrseg test multi CONFIG --weights W --backend openvino   # the checkpoint exported on the fly
    hrseg test multi --weights work_dirs/multi_synthetic_mini/best.pth # no CONFIG: the one the checkpoint records
    python tools/test_multi.py ...        # the same command, from a clone
CONFIG is a file or the name of a shipped config (configs/multi).
Without --weights the newest checkpoint of the config's run (its work_dir) is used. A head whose
labels the data lacks (no keypoint file, no label maps) is skipped with a message.
"""
from __future__ import annotations

from hrseg.commands import add_backend_arg, evaluation_config, evaluation_parser, for_task, test_options
from hrseg.tasks.multi import load_multi_config, test


@for_task("multi")
def main(argv: list[str] | None = None) -> int:
    ap = evaluation_parser(__doc__, "hrseg multi-task checkpoint (default: the config's run)")
    ap.add_argument("--ann-file", default=None, help="COCO instances JSON to evaluate on instead of the val split")
    ap.add_argument("--keypoint-file", default=None, help="its COCO person_keypoints JSON (keypoint AP)")
    ap.add_argument("--img-dir", default=None, help="the folder of --ann-file's images")
    ap.add_argument("--semantic-dir", default=None, help="label maps <image stem>.png of those images (mIoU)")
    add_backend_arg(ap)
    args = ap.parse_args(argv)
    cfg, options = evaluation_config(args, load_multi_config, test_options(args))
    test(cfg, args.weights, args.out_dir, options, ann_file=args.ann_file, keypoint_file=args.keypoint_file,
         img_dir=args.img_dir, semantic_dir=args.semantic_dir)
    return 0
