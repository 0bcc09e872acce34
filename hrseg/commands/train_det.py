"""Train an HRNetV2p detector (Faster R-CNN, FCOS or Mask R-CNN) and evaluate its COCO box (and mask) AP.

    hrseg train det                                      # the embedded synthetic mini-split (CPU)
    hrseg train det faster_rcnn_hrnetv2p_w32_1x_coco --work-dir work_dirs/frcnn_w32   # a shipped config
    hrseg train det CONFIG --cfg-options optimizer.lr=0.01 data.batch_size=4 --resume
    torchrun --nproc_per_node 8 -m hrseg train det CONFIG    # data-parallel, several processes
    python tools/train_det.py ...                        # the same command, from a clone

CONFIG is a file or the name of a shipped config (`hrseg configs det` lists them). Data and
work dirs named relative in the config go under the current directory (or $HRSEG_HOME)."""
from __future__ import annotations

from hrseg.commands import train_main
from hrseg.tasks.detection import TASK


def main(argv: list[str] | None = None) -> int:
    return train_main(argv, __doc__, TASK, "det/mini_fasterrcnn.py")
