"""Models: the HRNet backbone, its V1/V2/V2p representations and the task models on them."""
from hrseg.models.registry import build_model, list_models, register_model

__all__ = ["build_model", "list_models", "register_model"]
