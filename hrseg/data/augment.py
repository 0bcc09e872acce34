"""Augmentations whose strength a training schedule changes: RandAugment and Mixup.

Progressive learning (EfficientNetV2, :mod:`hrseg.engine.progressive`) raises the RandAugment
magnitude and the Mixup alpha stage by stage. RandAugment works on a dataset's uint8 crops (the
datasets' ``set_stage`` builds one); Mixup works on a batch in the task's ``train_step``:

* :func:`mixup_heatmaps` for keypoints (images, heatmap targets and joint weights mixed alike);
* :func:`mixup_images` + :func:`mixed_losses` for hard labels (segmentation).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch

from hrseg.errors import ConfigError


# -- RandAugment (photometric) ----------------------------------------------------------------------
class RandAugment:
    """RandAugment (Cubuk et al., 2020) restricted to its photometric operations, so that the
    keypoints and masks of a crop stay where they are: ``num_ops`` operations drawn uniformly
    from Identity, AutoContrast, Equalize, Brightness, Color, Contrast, Sharpness, Posterize and
    Solarize, all at ``magnitude`` (0-30, the paper's scale; the strengths at 30 are those of
    torchvision's ``RandAugment``: enhance factors 1 +- 0.9, posterize to 4 bits, solarize at 0).

    Called as ``augment(image, rng)`` on a uint8 RGB (H, W, 3) array with a numpy Generator, so
    that a sample's draws follow the dataset's seeding; the operations are torchvision's.
    """

    OPS = ("Identity", "AutoContrast", "Equalize", "Brightness", "Color", "Contrast", "Sharpness",
           "Posterize", "Solarize")
    MAX_MAGNITUDE = 30.0

    def __init__(self, magnitude: float, num_ops: int = 2) -> None:
        if not 0 <= magnitude <= self.MAX_MAGNITUDE or num_ops < 0:
            raise ConfigError(f"RandAugment needs a magnitude in [0, 30] and num_ops >= 0, got {magnitude}, {num_ops}")
        self.magnitude, self.num_ops = float(magnitude), int(num_ops)

    def __repr__(self) -> str:
        return f"RandAugment(magnitude={self.magnitude:g}, num_ops={self.num_ops})"

    def apply(self, op: str, image: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
        """One operation on a uint8 (3, H, W) tensor at this magnitude."""
        from torchvision.transforms.v2 import functional as TF

        level = self.magnitude / self.MAX_MAGNITUDE
        if op == "Identity" or (level == 0 and op != "AutoContrast" and op != "Equalize"):
            return image
        if op == "AutoContrast":
            return TF.autocontrast(image)
        if op == "Equalize":
            return TF.equalize(image)
        if op in ("Brightness", "Color", "Contrast", "Sharpness"):
            factor = 1.0 + sign * 0.9 * level
            fn = {"Brightness": TF.adjust_brightness, "Color": TF.adjust_saturation,
                  "Contrast": TF.adjust_contrast, "Sharpness": TF.adjust_sharpness}[op]
            return fn(image, factor)
        if op == "Posterize":
            return TF.posterize(image, int(round(8 - 4 * level)))
        if op == "Solarize":
            return TF.solarize(image, 255.0 * (1.0 - level))
        raise ConfigError(f"unknown RandAugment operation {op!r}; choose one of {self.OPS}")

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.magnitude == 0 or self.num_ops == 0:
            return image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"RandAugment expects a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        for _ in range(self.num_ops):
            op = self.OPS[int(rng.integers(len(self.OPS)))]
            x = self.apply(op, x, sign=-1.0 if rng.random() < 0.5 else 1.0)
        return np.ascontiguousarray(x.permute(1, 2, 0).numpy())


# -- Mixup -----------------------------------------------------------------------------------------
def sample_mixup(batch_size: int, alpha: float, generator: torch.Generator | None = None
                 ) -> tuple[float, torch.Tensor]:
    """Mixup's weight ``lam ~ Beta(alpha, alpha)`` and each sample's partner (a permutation),
    drawn from ``generator`` (default: torch's global generator); alpha 0 means no mixing."""
    if alpha <= 0:
        return 1.0, torch.arange(batch_size)
    # Beta(a, a) as X / (X + Y), X and Y ~ Gamma(a), with numpy seeded from the generator
    # (torch's Beta sampler takes no generator).
    rng = np.random.default_rng(int(torch.randint(2 ** 31 - 1, (1,), generator=generator)))
    x, y = rng.gamma(alpha), rng.gamma(alpha)
    lam = float(x / (x + y)) if x + y > 0 else 0.5
    return lam, torch.randperm(batch_size, generator=generator)


def mixup_images(images: torch.Tensor, alpha: float, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, float, torch.Tensor]:
    """``lam x_i + (1 - lam) x_perm(i)``; returns the mixed batch, ``lam`` and the permutation
    (for the targets). Alpha 0 returns the batch itself with ``lam = 1``."""
    lam, perm = sample_mixup(images.shape[0], alpha, generator)
    if lam == 1.0:
        return images, 1.0, perm.to(images.device)
    perm = perm.to(images.device)
    return lam * images + (1.0 - lam) * images[perm], lam, perm


def mixup_heatmaps(images: torch.Tensor, targets: torch.Tensor, target_weights: torch.Tensor, alpha: float,
                   generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Mixup for keypoint heatmaps: the images, the heatmap targets and their joint weights are
    mixed with the same ``lam`` and partners (a joint labelled in one image only keeps that
    image's share of the weight). Returns the mixed images, targets, weights and ``lam``."""
    mixed, lam, perm = mixup_images(images, alpha, generator)
    if lam == 1.0:
        return images, targets, target_weights, 1.0
    return (mixed, lam * targets + (1.0 - lam) * targets[perm],
            lam * target_weights + (1.0 - lam) * target_weights[perm], lam)


def mixed_losses(criterion: Callable[[torch.Tensor, torch.Tensor], Mapping[str, torch.Tensor]],
                 output: torch.Tensor, labels: torch.Tensor, lam: float, perm: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
    """Mixup for hard labels (segmentation): ``lam * loss(labels) + (1 - lam) * loss(labels[perm])``
    for a criterion that returns a dict of loss terms."""
    first = dict(criterion(output, labels))
    if lam == 1.0:
        return first
    second = criterion(output, labels[perm])
    return {k: lam * v + (1.0 - lam) * second[k] for k, v in first.items()}


def build_randaugment(magnitude: float, num_ops: int = 2) -> RandAugment | None:
    """A :class:`RandAugment` at ``magnitude``, or None when it would do nothing."""
    return RandAugment(magnitude, num_ops) if magnitude > 0 and num_ops > 0 else None
