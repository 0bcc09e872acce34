"""Semantic segmentation data: Cityscapes, PASCAL-Context, LIP and image/mask folders, and
their transforms."""
