"""hrseg: high-resolution networks (HRNet V1 / V2 / V2p) for keypoints, segmentation and detection.

    import hrseg
    model = hrseg.build_model("pose_hrnet_w32")
    hrseg.load_checkpoint(model, "pose_hrnet_w32_256x192.pth")   # official file, as it is
    fast = hrseg.optimize_for_inference(model)

This package never imports mmcv or mmengine: they are used only by the config loader.
"""
from hrseg.checkpoint import load_checkpoint, save_checkpoint
from hrseg.errors import CheckpointError, ConfigError, DataError, HrsegError
from hrseg.inference.optimize import optimize_for_inference
from hrseg.models import build_model, list_models
from hrseg.weights import list_weights

__version__ = "0.1.0"
__all__ = [
    "build_model", "list_models", "list_weights", "load_checkpoint", "save_checkpoint", "optimize_for_inference",
    "HrsegError", "CheckpointError", "ConfigError", "DataError", "__version__",
]
