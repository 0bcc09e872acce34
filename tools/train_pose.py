#!/usr/bin/env python
"""Train a top-down pose model and evaluate COCO keypoint AP on the val split.

    python tools/train_pose.py                                   # the embedded synthetic mini-split
    python tools/train_pose.py configs/pose/hrnet_w32_coco_256x192.py --work-dir work_dirs/w32
    python tools/train_pose.py CONFIG --cfg-options optimizer.lr=5e-4 train.max_epochs=100 --resume
    torchrun --nproc_per_node 2 tools/train_pose.py CONFIG       # data-parallel, several processes
"""
from __future__ import annotations

import sys
from pathlib import Path

from hrseg.cli import run_cli, train_tool
from hrseg.tasks.pose import OPEN_KEYS, POSE_DEFAULTS, train

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pose" / "synthetic_mini.py"


def main(argv: list[str] | None = None) -> int:
    return train_tool(argv, __doc__, DEFAULT_CONFIG, POSE_DEFAULTS, OPEN_KEYS, train)


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
