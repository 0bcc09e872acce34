"""End-to-end images/s of the multi-task model against the separate models' pipeline.

    hrseg bench-multi                                   # the runs of docs/multitask.md's comparison
    hrseg bench-multi --multi M.pth --det D.pth --pose P.pth --seg S.pth --images photos/ --limit 50
    python tools/bench_multi.py ...                     # the same command, from a clone

Each photograph's whole job, for each: decode, predict, serialise the JSON document and the
label map's PNG (what `hrseg infer` writes). The multi-task model: one forward pass. The separate
pipeline: the Mask R-CNN once, its person detections (scoring at least --person-score-thr) as the
top-down pose model's boxes, and the segmentation model, each through its task's predictor, on the
same backend (eager PyTorch, --threads threads). Without weights, the newest checkpoints of the
comparison's runs (`hrseg train multi`, and `hrseg train det|pose|seg` with the multi_split
configs) are used; without --images, the synthetic multi-task split's val photographs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hrseg.cli import CommandParser, positive_int
from hrseg.commands import home_path
from hrseg.errors import DataError
from hrseg.experiments.multi_compare import SeparatePipeline, format_table, time_pipelines
from hrseg.tasks.detection import TASK as DET
from hrseg.tasks.multi import TASK as MULTI
from hrseg.tasks.pose import TASK as POSE
from hrseg.tasks.segmentation import TASK as SEG
from hrseg.utils.image_io import IMAGE_SUFFIXES
from hrseg.utils.io import write_json

RUNS = {"multi": "work_dirs/multi_synthetic_mini", "det": "work_dirs/multi_split_maskrcnn",
        "pose": "work_dirs/multi_split_pose", "seg": "work_dirs/multi_split_seg"}
DEFAULT_IMAGES = "datasets/synthetic_multi/images/val"


def photos_in(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of photographs (`hrseg synthetic multi` writes the default one)")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise DataError(f"{folder}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    return photos[:limit] if limit else photos


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, run in RUNS.items():
        ap.add_argument(f"--{name}", default=None, help=f"{name} weights (default: the newest checkpoint in {run})")
    ap.add_argument("--images", default=None, help=f"folder of photographs (default: {DEFAULT_IMAGES})")
    ap.add_argument("--limit", type=positive_int, default=None, help="the first N photographs only")
    ap.add_argument("--score-thr", type=float, default=0.3, help="detections kept in the JSON (both; default 0.3)")
    ap.add_argument("--person-score-thr", type=float, default=0.5,
                    help="the separate pipeline's person boxes given to the pose model (default 0.5, as "
                         "hrseg infer pose's detector)")
    ap.add_argument("--rounds", type=positive_int, default=2, help="timed passes; the best is reported (default 2)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", default=None, help="also write the records to this JSON file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = {name: task.resolve_weights(getattr(args, name), home_path(RUNS[name]))
               for name, task in (("multi", MULTI), ("det", DET), ("pose", POSE), ("seg", SEG))}
    photos = photos_in(home_path(args.images or DEFAULT_IMAGES), args.limit)
    backend = ["test.backend=torch"]
    multi = MULTI.build_predictor(weights["multi"], cfg_options=backend, score_thr=args.score_thr)
    det = DET.build_predictor(weights["det"], cfg_options=backend, score_thr=args.score_thr)
    seg = SEG.build_predictor(weights["seg"], cfg_options=backend)
    separate = SeparatePipeline(
        det, lambda people: POSE.build_predictor(weights["pose"], cfg_options=backend, person_detector=people),
        seg, args.person_score_thr)
    print(f"{len(photos)} photographs; {torch.get_num_threads()} threads")
    records = time_pipelines({"separate: Mask R-CNN + top-down pose + segmentation": separate,
                              "multi-task: one forward pass": multi}, photos, rounds=args.rounds)
    print(format_table(records))
    if args.json:
        write_json(args.json, {"weights": {k: str(v) for k, v in weights.items()}, "records": records})
    return 0
