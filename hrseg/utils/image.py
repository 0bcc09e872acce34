"""uint8 RGB images to normalised CHW tensors and back: the one normalisation every task uses,
in a DataLoader worker (:func:`normalize`) or on the training batch's device (:class:`Normalizer`,
``train.device_normalize``: the workers then send uint8, a quarter of the bytes, and skip the work)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float (3, H, W) in [0, 1] (what torchvision's detectors take)."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def chw_uint8(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> a uint8 (3, H, W) view of it (no copy): what a worker sends when the
    batch is normalised on the device."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


class Normalizer:
    """uint8 (..., 3, H, W) images -> float32 ``(x / 255 - mean) / std``, on the images' device and
    in their memory format. The same operations, true divisions included (a Python-number divisor
    becomes a reciprocal multiply on CUDA), as a worker's :func:`normalize`: on the CPU bit for bit,
    on a GPU too where its division is IEEE's. Float images pass through unchanged (the workers
    normalised them). The constants are made once per device, so a CUDA graph's warm-up makes them
    before the capture."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._constants: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            return images
        constants = self._constants.get(images.device)
        if constants is None:
            constants = self._constants[images.device] = tuple(
                torch.tensor(v, dtype=torch.float32).view(-1, 1, 1).to(images.device)
                for v in ((255.0,), self.mean, self.std))
        scale, mean, std = constants
        return images.float().div_(scale).sub_(mean).div_(std)


def normalize(image: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> float32 CHW tensor, ``(x / 255 - mean) / std`` (as ``ToTensor`` +
    ``Normalize`` in the official code)."""
    return Normalizer(mean, std)(chw_uint8(image))


def denormalize(tensor: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """Inverse of :func:`normalize`: CHW tensor -> uint8 RGB (H, W, 3), for looking at inputs."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    x = (tensor.detach().cpu().float() * s + m).mul(255.0).round().clamp(0, 255)
    return x.byte().permute(1, 2, 0).numpy()
