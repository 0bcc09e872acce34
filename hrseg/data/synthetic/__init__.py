"""Synthetic mini-splits for CPU runs: person figures (keypoints, instances, LIP part masks) and
street scenes (Cityscapes layout)."""
