#!/usr/bin/env python
"""Train a semantic segmentation model and report mIoU on the val split.

    python tools/train_seg.py                                   # the embedded synthetic street scenes (CPU)
    python tools/train_seg.py configs/seg/hrnetv2_w48_cityscapes_1024x512.py --work-dir work_dirs/w48
    python tools/train_seg.py CONFIG --cfg-options optimizer.lr=5e-3 train.max_epochs=100 --resume
    torchrun --nproc_per_node 4 tools/train_seg.py CONFIG        # data-parallel, several processes
"""
from __future__ import annotations

import sys
from pathlib import Path

from hrseg.cli import run_cli, train_tool
from hrseg.tasks.segmentation import OPEN_KEYS, SEG_DEFAULTS, train

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "seg" / "synthetic_mini.py"


def main(argv: list[str] | None = None) -> int:
    return train_tool(argv, __doc__, DEFAULT_CONFIG, SEG_DEFAULTS, OPEN_KEYS, train)


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
