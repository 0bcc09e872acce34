"""Top-down pose data: COCO-format keypoint files (any keypoint set), person crops and their
augmentation, the training dataset."""
