#!/usr/bin/env python
"""Train an HRNetV2p detector (Faster R-CNN or FCOS) and evaluate COCO box AP on the val split.

    python tools/train_det.py                                      # the embedded synthetic mini-split (CPU)
    python tools/train_det.py configs/det/faster_rcnn_hrnetv2p_w32_1x_coco.py --work-dir work_dirs/frcnn_w32
    python tools/train_det.py CONFIG --cfg-options optimizer.lr=0.01 data.batch_size=4 --resume
    torchrun --nproc_per_node 8 tools/train_det.py CONFIG           # data-parallel, several processes
"""
from __future__ import annotations

import sys
from pathlib import Path

from hrseg.cli import run_cli, train_tool
from hrseg.tasks.detection import DET_DEFAULTS, OPEN_KEYS, train

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "det" / "mini_fasterrcnn.py"


def main(argv: list[str] | None = None) -> int:
    return train_tool(argv, __doc__, DEFAULT_CONFIG, DET_DEFAULTS, OPEN_KEYS, train)


if __name__ == "__main__":
    sys.exit(run_cli(lambda: main()))
