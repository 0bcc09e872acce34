"""The heatmap codec as one object (as mmpose's ``MSRAHeatmap`` and ``UDPHeatmap``): input size,
heatmap size, sigma, unbiased (DARK) or UDP encoding, the DARK blur kernel derived from sigma, the
decode method and the crop matrix that goes with the encoding (:meth:`HeatmapCodec.crop_transform`), or
UDP's combined maps (:mod:`hrseg.codecs.combined`: three per joint, ``heatmap_type="combined"``). Built
once from a config (:meth:`HeatmapCodec.from_config`); the dataset encodes with it, prediction
decodes with it, and progressive learning or the scaling search ask it for a rescaled copy
(:meth:`HeatmapCodec.rescaled`), so sigma, sizes and strides are derived in this one place."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, MutableMapping, Sequence

import numpy as np
import torch

from hrseg.codecs.combined import decode_combined, encode_combined
from hrseg.codecs.heatmap import DECODERS, decode, encode, to_image
from hrseg.errors import ConfigError
from hrseg.geometry import crop_transform


def dark_kernel(sigma: float) -> int:
    """DARK's Gaussian blur kernel for a heatmap ``sigma``: the odd size ``6 * sigma - 1``
    (11 for sigma 2, 17 for sigma 3, as mmpose's DARK recipes), at least 3."""
    k = max(3, int(round(6 * sigma - 1)))
    return k if k % 2 else k + 1


HEATMAP_TYPES = ("gaussian", "combined")
# mmpose's codec of a published file's recipe (its record's ``codec``) as hrseg's config: the ``data`` and
# ``test`` settings that reproduce it (DARK decodes with DARK; UDP is UDP's crop, targets and decoding without
# the flip shift; udp_regress UDP's combined maps)
_UDP_TEST = {"decoder": "dark", "shift_heatmap": False}
RECIPE_CODECS: dict[str, dict[str, dict[str, Any]]] = {
    "msra": {"data": {}, "test": {}},
    "dark": {"data": {}, "test": {"decoder": "dark"}},
    "udp": {"data": {"udp": True, "heatmap_type": "gaussian"}, "test": _UDP_TEST},
    "udp_regress": {"data": {"udp": True, "heatmap_type": "combined"}, "test": _UDP_TEST},
}


def maps_per_joint(heatmap_type: str = "gaussian") -> int:
    """The model's output maps per joint for ``heatmap_type``: 3 for the combined maps (disk, x and y
    offsets), else 1."""
    return 3 if heatmap_type == "combined" else 1


def recipe_maps_per_joint(codec: str) -> int:
    """The maps per joint of a model trained with mmpose's ``codec`` (:data:`RECIPE_CODECS`)."""
    return maps_per_joint(RECIPE_CODECS[codec]["data"].get("heatmap_type", "gaussian"))


@dataclass(frozen=True)
class HeatmapCodec:
    """Sizes are (H, W), as in configs; ``sigma`` is in heatmap pixels; ``udp``: UDP's crop, targets
    and decoding (:mod:`hrseg.codecs.heatmap`); ``dark_blur``: the DARK blur kernel when not the one
    sigma gives (:func:`dark_kernel`; mmpose 1.x's UDP recipes keep 11 at sigma 3); ``heatmap_type``
    ``"combined"``: UDP's disk and offset maps instead of Gaussians (``sigma`` and ``decoder`` unused;
    ``offset_blur``: mmpose 0.x's blur of the offset maps, 0 for none)."""

    input_size: tuple[int, int] = (256, 192)
    heatmap_size: tuple[int, int] = (64, 48)
    sigma: float = 2.0
    unbiased: bool = False
    decoder: str = "argmax"
    use_different_joints_weight: bool = False
    udp: bool = False
    dark_blur: int | None = None
    heatmap_type: str = "gaussian"
    offset_blur: int = 0

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ConfigError(f"test.decoder: unknown heatmap decoder {self.decoder!r}; choose one of {DECODERS}")
        if min(self.input_size) < 1 or min(self.heatmap_size) < 1 or self.sigma <= 0:
            raise ConfigError(f"heatmap codec: sizes must be positive and sigma > 0, got {self}")
        if self.udp and (self.unbiased or min(self.heatmap_size) < 2):
            raise ConfigError("data.udp: UDP draws its own sub-pixel targets (data.unbiased_encoding must be false) "
                              f"on heatmaps of at least 2x2 (data.heatmap_size {list(self.heatmap_size)})")
        if self.dark_blur is not None and (self.dark_blur < 1 or self.dark_blur % 2 != 1):
            raise ConfigError(f"test.blur_kernel: DARK's blur kernel must be a positive odd size, got {self.dark_blur}")
        if self.heatmap_type not in HEATMAP_TYPES:
            raise ConfigError(f"data.heatmap_type: unknown {self.heatmap_type!r}; choose one of {HEATMAP_TYPES}")
        if self.heatmap_type == "combined" and not self.udp:
            raise ConfigError("data.heatmap_type 'combined' is UDP's (its maps are on UDP's grid): set data.udp=True "
                              "and test.shift_heatmap=False too")
        if self.offset_blur < 0 or (self.offset_blur and self.offset_blur % 2 != 1):
            raise ConfigError(f"test.offset_blur: 0 or a positive odd kernel size, got {self.offset_blur}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "HeatmapCodec":
        data, test = cfg["data"], cfg["test"]
        udp = bool(data.get("udp", False))
        if udp and test.get("shift_heatmap"):
            raise ConfigError("data.udp: UDP's flip test takes the mirrored heatmaps as they are (its crops are "
                              "symmetric about the pixel centres): set test.shift_heatmap=False too")
        blur = test.get("blur_kernel")
        return cls(tuple(int(v) for v in data["input_size"]), tuple(int(v) for v in data["heatmap_size"]),
                   float(data["sigma"]), bool(data.get("unbiased_encoding", False)), str(test["decoder"]),
                   bool(data["use_different_joints_weight"]), udp, None if blur is None else int(blur),
                   str(data.get("heatmap_type", "gaussian")), int(test.get("offset_blur") or 0))

    @property
    def stride(self) -> float:
        return self.input_size[0] / self.heatmap_size[0]

    @property
    def kind(self) -> str:
        """``"msra"`` (the official Gaussians, DARK's included), ``"udp"`` or ``"udp_combined"``."""
        return ("udp_combined" if self.heatmap_type == "combined" else "udp") if self.udp else "msra"

    @property
    def maps_per_joint(self) -> int:
        """The model's output maps per joint (:func:`maps_per_joint` of the heatmap type)."""
        return maps_per_joint(self.heatmap_type)

    @property
    def blur_kernel(self) -> int:
        return dark_kernel(self.sigma) if self.dark_blur is None else self.dark_blur

    def crop_transform(self, center: Sequence[float], scale: Sequence[float], rot: float = 0.0) -> np.ndarray:
        """The matrix that crops a person (``center``, ``scale``) to this codec's input: the official
        crop, or UDP's."""
        return crop_transform(center, scale, rot, self.input_size[::-1], udp=self.udp)

    def rescaled(self, input_size: Sequence[int]) -> "HeatmapCodec":
        """The codec for another input size (H, W) at the same stride, sigma scaled with the heatmap
        (the official recipes: sigma 2 at 64x48 heatmaps, 3 at 96x72)."""
        h, w = int(input_size[0]), int(input_size[1])
        heatmap = (max(1, round(h / self.stride)), max(1, round(w / self.stride)))
        return replace(self, input_size=(h, w), heatmap_size=heatmap,
                       sigma=self.sigma * heatmap[0] / self.heatmap_size[0])

    def write_sizes(self, cfg: MutableMapping[str, Any]) -> None:
        """Put this codec's input size, heatmap size and sigma into ``cfg``'s data section (where
        :meth:`from_config` reads them): a config cropping at another size is ``rescaled(size).write_sizes(cfg)``."""
        cfg["data"].update(input_size=list(self.input_size), heatmap_size=list(self.heatmap_size), sigma=self.sigma)

    def encode(self, joints: np.ndarray, joints_vis: np.ndarray,
               joint_weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Targets (K * maps_per_joint, h, w) and target weights (K, 1) for joints (K, 2) in crop pixels."""
        if self.heatmap_type == "combined":
            return encode_combined(joints, joints_vis, self.input_size[::-1], self.heatmap_size[::-1],
                                   joint_weights if self.use_different_joints_weight else None)
        return encode(joints, joints_vis, self.input_size[::-1], self.heatmap_size[::-1], self.sigma,
                      self.use_different_joints_weight, joint_weights, unbiased=self.unbiased, udp=self.udp)

    def decode(self, heatmaps: np.ndarray | torch.Tensor, centers: np.ndarray,
               scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, K, 2) in image pixels and their maxima (N, K, 1)."""
        if self.heatmap_type == "combined":
            coords, scores = decode_combined(heatmaps, self.blur_kernel, self.offset_blur)
            return to_image(coords, centers, scales, self.heatmap_size[::-1], udp=True), scores
        return decode(heatmaps, centers, scales, method=self.decoder, blur_kernel=self.blur_kernel, udp=self.udp)
