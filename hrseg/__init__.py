"""hrseg: high-resolution networks (HRNet V1 / V2 / V2p) for keypoints, segmentation and detection.

    import hrseg
    model = hrseg.build_model("pose_hrnet_w32")
    hrseg.load_checkpoint(model, "pose_hrnet_w32_256x192.pth")   # any layout: official, mmpose, timm, ...
    fast = hrseg.optimize_for_inference(model)

``import hrseg`` loads the models, weights and checkpoint code only: no pycocotools,
albumentations or matplotlib (they are imported where evaluation, training transforms and plots
need them); mmengine is no dependency at all (hrseg reads its config format itself).
"""
from hrseg.checkpoint import save_checkpoint
from hrseg.errors import CheckpointError, ConfigError, DataError, HrsegError
from hrseg.inference.optimize import optimize_for_inference
from hrseg.meta.version import __version__
from hrseg.models import list_models
from hrseg.weights import build_model, list_weights, load_checkpoint

__all__ = [
    "build_model", "list_models", "list_weights", "load_checkpoint", "save_checkpoint", "optimize_for_inference",
    "HrsegError", "CheckpointError", "ConfigError", "DataError", "__version__",
]
