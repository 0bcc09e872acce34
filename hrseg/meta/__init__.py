"""The ground floor: facts about datasets and inputs that every other part of hrseg reads.

Tables only (names, skeletons, sigmas, class lists, palettes, normalisation); nothing here
imports another hrseg module, so data, codecs, inference, visualization and models can all
depend on it without cycles.
"""
from __future__ import annotations

# ImageNet normalisation (``/255`` then ``(x - mean) / std``) used by every HRNet recipe.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
