"""Train a semantic segmentation model and report mIoU on the val split.

    hrseg train seg                                      # the embedded synthetic street scenes (CPU)
    hrseg train seg hrnetv2_w48_cityscapes_1024x512 --work-dir work_dirs/w48   # a shipped config
    hrseg train seg CONFIG --cfg-options optimizer.lr=5e-3 train.max_epochs=100 --resume
    torchrun --nproc_per_node 4 -m hrseg train seg CONFIG    # data-parallel, several processes
    python tools/train_seg.py ...                        # the same command, from a clone

CONFIG is a file or the name of a shipped config (`hrseg configs seg` lists them). Data and
work dirs named relative in the config go under the current directory (or $HRSEG_HOME)."""
from __future__ import annotations

from hrseg.commands import train_main
from hrseg.tasks.segmentation import TASK


def main(argv: list[str] | None = None) -> int:
    return train_main(argv, __doc__, TASK, "seg/synthetic_mini.py")
