"""uint8 RGB images to normalised CHW tensors and back: the one normalisation every task uses."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float (3, H, W) in [0, 1] (what torchvision's detectors take)."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def normalize(image: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> float32 CHW tensor, ``(x / 255 - mean) / std`` (as ``ToTensor`` +
    ``Normalize`` in the official code)."""
    x = to_tensor(image)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return x.sub_(m).div_(s)


def denormalize(tensor: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """Inverse of :func:`normalize`: CHW tensor -> uint8 RGB (H, W, 3), for looking at inputs."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    x = (tensor.detach().cpu().float() * s + m).mul(255.0).round().clamp(0, 255)
    return x.byte().permute(1, 2, 0).numpy()
