"""Training losses."""
from hrseg.losses.keypoint import JointsMSELoss, JointsOHKMLoss

__all__ = ["JointsMSELoss", "JointsOHKMLoss"]
from hrseg.losses.segmentation import SegCrossEntropy, ohem_cross_entropy  # noqa: E402

__all__ += ["SegCrossEntropy", "ohem_cross_entropy"]
