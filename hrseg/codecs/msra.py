"""The heatmap codec as one object (as mmpose's ``MSRAHeatmap``): input size, heatmap size,
sigma, unbiased encoding, the DARK blur kernel derived from sigma, and the decode method. Built
once from a config (:meth:`HeatmapCodec.from_config`); the dataset encodes with it, prediction
decodes with it, and progressive learning or the scaling search ask it for a rescaled copy
(:meth:`HeatmapCodec.rescaled`), so sigma, sizes and strides are derived in this one place."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from hrseg.codecs.heatmap import DECODERS, decode, encode
from hrseg.errors import ConfigError


def dark_kernel(sigma: float) -> int:
    """DARK's Gaussian blur kernel for a heatmap ``sigma``: the odd size ``6 * sigma - 1``
    (11 for sigma 2, 17 for sigma 3, as mmpose's DARK recipes), at least 3."""
    k = max(3, int(round(6 * sigma - 1)))
    return k if k % 2 else k + 1


@dataclass(frozen=True)
class HeatmapCodec:
    """Sizes are (H, W), as in configs; ``sigma`` is in heatmap pixels."""

    input_size: tuple[int, int] = (256, 192)
    heatmap_size: tuple[int, int] = (64, 48)
    sigma: float = 2.0
    unbiased: bool = False
    decoder: str = "argmax"
    use_different_joints_weight: bool = False

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ConfigError(f"test.decoder: unknown heatmap decoder {self.decoder!r}; choose one of {DECODERS}")
        if min(self.input_size) < 1 or min(self.heatmap_size) < 1 or self.sigma <= 0:
            raise ConfigError(f"heatmap codec: sizes must be positive and sigma > 0, got {self}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "HeatmapCodec":
        data, test = cfg["data"], cfg["test"]
        return cls(tuple(int(v) for v in data["input_size"]), tuple(int(v) for v in data["heatmap_size"]),
                   float(data["sigma"]), bool(data.get("unbiased_encoding", False)), str(test["decoder"]),
                   bool(data["use_different_joints_weight"]))

    @property
    def stride(self) -> float:
        return self.input_size[0] / self.heatmap_size[0]

    @property
    def blur_kernel(self) -> int:
        return dark_kernel(self.sigma)

    def rescaled(self, input_size: Sequence[int]) -> "HeatmapCodec":
        """The codec for another input size (H, W) at the same stride, sigma scaled with the heatmap
        (the official recipes: sigma 2 at 64x48 heatmaps, 3 at 96x72)."""
        h, w = int(input_size[0]), int(input_size[1])
        heatmap = (max(1, round(h / self.stride)), max(1, round(w / self.stride)))
        return replace(self, input_size=(h, w), heatmap_size=heatmap,
                       sigma=self.sigma * heatmap[0] / self.heatmap_size[0])

    def encode(self, joints: np.ndarray, joints_vis: np.ndarray,
               joint_weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Targets (K, h, w) and target weights (K, 1) for joints (K, 2) in crop pixels."""
        return encode(joints, joints_vis, self.input_size[::-1], self.heatmap_size[::-1], self.sigma,
                      self.use_different_joints_weight, joint_weights, unbiased=self.unbiased)

    def decode(self, heatmaps: np.ndarray | torch.Tensor, centers: np.ndarray,
               scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 2) in image pixels and their maxima (N, K, 1)."""
        return decode(heatmaps, centers, scales, method=self.decoder, blur_kernel=self.blur_kernel)
