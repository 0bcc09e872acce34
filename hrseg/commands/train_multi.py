"""Train the multi-task HRNet (boxes, masks, keypoints, segmentation) and evaluate every head.

    hrseg train multi                                    # the embedded synthetic mini-split (CPU)
    hrseg train multi multi_hrnetv2p_w32_1x_coco --work-dir work_dirs/multi_w32   # a shipped config
    hrseg train multi CONFIG --cfg-options loss_weights.loss_keypoint=0.5 --resume
    torchrun --nproc_per_node 8 -m hrseg train multi CONFIG    # data-parallel, several processes
    python tools/train_multi.py ...                      # the same command, from a clone

CONFIG is a file or the name of a shipped config (configs/multi). Data and work dirs named
relative in the config go under the current directory (or $HRSEG_HOME)."""
from __future__ import annotations

from hrseg.commands import train_main
from hrseg.tasks.multi import TASK


def main(argv: list[str] | None = None) -> int:
    return train_main(argv, __doc__, TASK, "multi/synthetic_mini.py")
