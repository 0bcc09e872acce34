"""Train a top-down pose model and evaluate COCO keypoint AP on the val split.

    hrseg train pose                                     # the embedded synthetic mini-split
    hrseg train pose hrnet_w32_coco_256x192 --work-dir work_dirs/w32   # a shipped config, by name
    hrseg train pose my_config.py --cfg-options optimizer.lr=5e-4 train.max_epochs=100 --resume
    torchrun --nproc_per_node 2 -m hrseg train pose CONFIG   # data-parallel, several processes
    python tools/train_pose.py ...                       # the same command, from a clone

CONFIG is a file or the name of a shipped config (`hrseg configs pose` lists them). Data and
work dirs named relative in the config go under the current directory (or $HRSEG_HOME)."""
from __future__ import annotations

from hrseg.commands import train_main
from hrseg.tasks.pose import TASK


def main(argv: list[str] | None = None) -> int:
    return train_main(argv, __doc__, TASK, "pose/synthetic_mini.py")
