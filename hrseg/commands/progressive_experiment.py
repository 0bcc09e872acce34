"""The progressive-learning study: arms a-e, several seeds, on the pose or segmentation mini-split.

    hrseg progressive-experiment                                # pose, all arms, seeds 0 1 2
    hrseg progressive-experiment --task seg                     # configs/effnet/progressive_synthetic_seg.py
    hrseg progressive-experiment configs/effnet/progressive_study_small.py --seeds 0 1

Arms (same config, epochs and evaluation): (a) fixed size, (b) progressive size only, (c)
progressive size with dropout, RandAugment and Mixup rising with it, (d) fixed size with the
final regularization, (e) arm c given arm a's training CPU time. Writes study.json / study.md /
study.png (metric over training CPU time) to --work-dir; hrseg/experiments/progressive_study.py has
the details. Time is the training loops' CPU seconds (run with OMP_NUM_THREADS=1: the work done,
whatever shares the machine); wall seconds are reported beside it. A stopped study resumes: run
the same command again (finished arms are reused, an interrupted one continues from its checkpoint).
"""
from __future__ import annotations

from hrseg.cli import CommandParser
from hrseg.commands import shipped_config

import argparse
from hrseg.experiments.progressive_study import ARMS, run_study


DEFAULT_CONFIGS = {"pose": "effnet/progressive_synthetic.py", "seg": "effnet/progressive_synthetic_seg.py"}


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=None, help="default: the task's configs/effnet/progressive_*.py")
    ap.add_argument("--task", choices=["pose", "seg"], default="pose")
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--work-dir", default=None, help="default: work_dirs/progressive_<task>")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                    help="overrides for every run, e.g. train.max_epochs=30")
    ap.add_argument("--collect-only", action="store_true",
                    help="summarize the arms already finished in --work-dir (a partial study); train nothing")
    args = ap.parse_args(argv)
    config = args.config or shipped_config(DEFAULT_CONFIGS[args.task])
    run_study(config, args.task, args.work_dir or f"work_dirs/progressive_{args.task}", args.seeds, args.arms,
              args.cfg_options, collect_only=args.collect_only)
    return 0
