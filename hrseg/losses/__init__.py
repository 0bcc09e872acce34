"""Training losses."""
from hrseg.losses.keypoint import JointsMSELoss, JointsOHKMLoss

__all__ = ["JointsMSELoss", "JointsOHKMLoss"]
