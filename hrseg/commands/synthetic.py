"""Write a synthetic dataset: figure keypoints (COCO's or MPII's), human parsing (LIP), street scenes (Cityscapes),
people in streets for the multi-task model, or videos of walking people (MOTChallenge + COCO-video).

    hrseg synthetic pose datasets/synthetic_pose                      # 800 + 100 images of 256x256
    hrseg synthetic mpii datasets/synthetic_mpii                      # the same figures, MPII's joints and files
    hrseg synthetic multi datasets/synthetic_multi                    # instances, keypoints, scene labels
    hrseg synthetic video datasets/synthetic_video --num-train 200    # frames per split, ids per frame
    hrseg synthetic video_frames datasets/synthetic_video_frames      # other videos' frames, photo layout
    hrseg synthetic streets datasets/streets --num-train 400 --size 256 512 --no-furniture
    hrseg synthetic lip datasets/synthetic_lip --num-val 100 --seed 1
    hrseg synthetic pose /tmp/pose --num-train 20 --force             # rewrite even if complete

A complete dataset with the same settings (its COMPLETE.json) is left as it is; other settings
replace it. The generators are hrseg/data/synthetic/{pose,mpii,lip,multi,video,video_frames}.py and streets/.
"""
from __future__ import annotations

import argparse
from typing import Any, Callable

from hrseg.cli import CommandParser, seed_value
from hrseg.data.synthetic.lip import ensure_synthetic_lip, generate_synthetic_lip
from hrseg.data.synthetic.mpii import ensure_synthetic_mpii, generate_synthetic_mpii
from hrseg.data.synthetic.multi import ensure_synthetic_multi, generate_synthetic_multi
from hrseg.data.synthetic.pose import ensure_synthetic_pose, generate_synthetic_pose
from hrseg.data.synthetic.streets import ensure_synthetic_streets, generate_synthetic_streets
from hrseg.data.synthetic.video import ensure_synthetic_video, generate_synthetic_video
from hrseg.data.synthetic.video_frames import ensure_synthetic_video_frames, generate_synthetic_video_frames

# kind -> (ensure, generate, the name of the size argument)
GENERATORS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]], str]] = {
    "pose": (ensure_synthetic_pose, generate_synthetic_pose, "image_size"),
    "mpii": (ensure_synthetic_mpii, generate_synthetic_mpii, "image_size"),
    "streets": (ensure_synthetic_streets, generate_synthetic_streets, "size"),
    "lip": (ensure_synthetic_lip, generate_synthetic_lip, "size"),
    "multi": (ensure_synthetic_multi, generate_synthetic_multi, "image_size"),
    "video": (ensure_synthetic_video, generate_synthetic_video, "image_size"),
    "video_frames": (ensure_synthetic_video_frames, generate_synthetic_video_frames, "image_size"),
}
KINDS = tuple(GENERATORS)


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=KINDS, help="pose: COCO keypoints and instances; mpii: the same figures, "
                                                "MPII's joints and files; streets: Cityscapes layout; "
                                                "lip: LIP human parsing; multi: people in streets (every head); "
                                                "video: walking people, frames with ids (MOTChallenge); "
                                                "video_frames: frames of other such videos as a photo split "
                                                "(detectors for video)")
    ap.add_argument("root", help="folder to write (created if missing)")
    ap.add_argument("--num-train", type=int, default=None, help="training images, video: frames (default: the "
                    "generator's)")
    ap.add_argument("--num-val", type=int, default=None, help="validation images, video: frames (default: the "
                    "generator's)")
    ap.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                    help="image size (default: pose and mpii 256 256, streets 128 256, lip 192 128, multi 256 384, "
                         "video and video_frames 256 320)")
    ap.add_argument("--seed", type=seed_value, default=None, help="seed (default 0)")
    ap.add_argument("--no-furniture", action="store_true", help="streets: no street lights or traffic signs")
    ap.add_argument("--force", action="store_true", help="write even if a complete dataset is there")
    args = ap.parse_args(argv)
    ensure, generate, size_key = GENERATORS[args.kind]
    options: dict[str, Any] = {k: v for k, v in (("num_train", args.num_train), ("num_val", args.num_val),
                                                 ("seed", args.seed)) if v is not None}
    if args.size is not None:
        options[size_key] = tuple(args.size)
    if args.no_furniture:
        if args.kind != "streets":
            ap.error("--no-furniture is for streets only")
        options["furniture"] = False
    summary = (generate if args.force else ensure)(args.root, **options)
    if not args.force and summary["seconds"] == 0.0:
        print(f"{args.root}: complete with these settings; nothing written (--force rewrites it)")
    return 0
