"""Write a pose checkpoint as hrseg's trainer does, for the installed-wheel check of .ci/check_wheel.sh.

    python .ci/make_pose_checkpoint.py OUT.pth

The model of the shipped config pose/synthetic_mini (found by name in the installed package),
seeded random weights, and that config recorded in the file, so `hrseg infer pose --weights
OUT.pth` needs no other argument. Weights untrained: the check is that the installed command
runs end to end and writes its files, not what it finds.
"""
import sys

import torch

import hrseg
from hrseg.tasks.pose import build_pose_model, load_pose_config

torch.manual_seed(0)
cfg = load_pose_config("pose/synthetic_mini")
hrseg.save_checkpoint(sys.argv[1], build_pose_model(cfg["model"]), meta={"config": cfg})
print(f"wrote {sys.argv[1]}: {cfg['model']['name']}, config pose/synthetic_mini recorded")
