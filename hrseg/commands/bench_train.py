"""Training speed of a named model: the bare step, its phases, the real loop and kernels per step.

    hrseg bench-train pose_hrnet_w32 --input-size 256x192 --batch 64 --device cuda
    hrseg bench-train seg_hrnetv2_w48 --input-size 512x1024 --batch 8 --device cuda --workers 8
    hrseg bench-train pose_hrnet_w18_small_v1 --input-size 128x96 --batch 16      # the CPU
    hrseg bench-train pose_hrnet_w32 --device cuda --cfg-options train.cuda_graph=false train.channels_last=true
    python tools/bench_train.py ...   # the same command, from a clone

One table: images/s of the bare training step (one batch already on the device, no data
loading; a CUDA graph where the run would use one) and of the real loop (two of the Trainer's
epochs over --loop-iters batches of the task's synthetic split, DataLoader workers decoding,
warping and drawing or leaving the targets: the first with the workers' start-up, the next
without it where the workers persist) and of a third epoch of the DataLoader alone (no step), the
real loop's data-wait share, one worker's samples/s, the eager step's forward /
backward / optimizer milliseconds (each synchronised), and kernels per step from torch.profiler
(CUDA kernel launches and GPU kernels; aten operator calls on the CPU). The speed options are
the config's `train` keys (docs/training.md), automatic unless given with --cfg-options. On the
CPU the profiler's C++ log (kineto's) is silenced; KINETO_LOG_LEVEL=0 (VERBOSE) ... 5 shows it.
"""
from __future__ import annotations

import argparse
import json

import torch

from hrseg.cli import CommandParser, device_name, non_negative_int, parse_size, positive_int
from hrseg.experiments.train_speed import bench_train, format_table


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", help="a pose_* or seg_* model name from hrseg.list_models()")
    ap.add_argument("--input-size", type=parse_size, default=(256, 192), help="HxW (default 256x192)")
    ap.add_argument("--batch", type=positive_int, default=16)
    ap.add_argument("--device", type=device_name, default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu | cuda | cuda:N")
    ap.add_argument("--iters", type=positive_int, default=10, help="timed bare steps (after --warmup)")
    ap.add_argument("--warmup", type=non_negative_int, default=3)
    ap.add_argument("--loop-iters", type=positive_int, default=20, help="iterations of the real loop")
    ap.add_argument("--workers", type=non_negative_int, default=2, help="DataLoader workers of the real loop")
    ap.add_argument("--data-root", default=None, help="where the synthetic split lives (default: the task's config)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                    help="config overrides, e.g. the speed options train.cuda_graph=false train.amp_dtype=bfloat16")
    ap.add_argument("--json", action="store_true", help="print the record as JSON instead of the table")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = bench_train(args.name, args.input_size, args.batch, args.device, iters=args.iters, warmup=args.warmup,
                         loop_iters=args.loop_iters, num_workers=args.workers, data_root=args.data_root,
                         cfg_options=args.cfg_options)
    print(json.dumps(record) if args.json else format_table(record))
    return 0
