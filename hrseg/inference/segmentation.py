"""Segmentation inference: whole image or sliding window, multi-scale and flip, class scores at
the input size. One function, :func:`predict_scores`, serves evaluation during training,
``tools/test_seg.py`` and ``tools/infer_seg.py``.

Memory: the input stays uint8 and each window is normalised on its own, so a large photograph
costs its uint8 pixels, the (K, H, W) float32 score accumulator and the activations of one
window; nothing else grows with the image. :func:`predict_labels` turns the scores into a uint8
label map row band by row band.

Score map: a single pass (one scale, no flip) gives logits upsampled bilinearly to the input
size; with several passes (scales x flips) the softmax probabilities are averaged, as
mmsegmentation does. Either way the argmax is the prediction.

Large images: in ``whole`` mode an image (at the working scale) of more than
``max_whole_pixels`` is processed by sliding windows of ``crop_size`` instead, so a
4000x3000 photograph never needs the activations of one 12-megapixel pass.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD
from hrseg.meta.classes import flip_permutation

# The test settings and their defaults (the schema of a config's ``test`` section).
SEG_TEST_DEFAULTS: dict[str, Any] = dict(
    mode="whole",  # "whole": the image in one pass; "slide": crop_size windows, stride apart
    crop_size=[512, 1024],  # H, W of a sliding window
    stride=None,  # H, W between windows; None = 2/3 of crop_size, as the official code
    base_size=None,  # long side the image is resized to at scale 1.0 (None: kept as it is)
    scales=[1.0],  # multi-scale: factors on base_size (or on the image size)
    flip=False,  # also predict the horizontally flipped image and average
    optimize=True,  # BatchNorm folded + channels_last (hrseg.optimize_for_inference)
    align_corners=False,  # logits -> input size interpolation (False in the official W48 configs)
    max_whole_pixels=2048 * 2048,  # "whole" images larger than this go by sliding windows instead
    flip_pairs=[],  # [[left, right], ...] classes swapped in the flipped pass (LIP's arms, legs, shoes)
)


def _pairs(value: Sequence[int] | int, what: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if len(value) != 2 or min(int(v) for v in value) < 1:
        raise ValueError(f"test.{what}: expected [H, W] of positive integers, got {value!r}")
    return int(value[0]), int(value[1])


def windows(height: int, width: int, crop: tuple[int, int], stride: tuple[int, int]
            ) -> Iterator[tuple[int, int, int, int]]:
    """``(y0, y1, x0, x1)`` of sliding windows covering the image; the last row and column of
    windows are aligned to the far edges (mmsegmentation's grid). An image smaller than the
    crop is one window of its own size."""
    ch, cw = min(crop[0], height), min(crop[1], width)
    sh, sw = stride
    rows = max(math.ceil((height - ch) / sh), 0) + 1
    cols = max(math.ceil((width - cw) / sw), 0) + 1
    for r in range(rows):
        y1 = min(r * sh + ch, height)
        for c in range(cols):
            x1 = min(c * sw + cw, width)
            yield y1 - ch, y1, x1 - cw, x1


class _Normalizer:
    """uint8 RGB window (numpy) -> normalised float (1, 3, h, w) tensor on the model's device."""

    def __init__(self, device: torch.device, dtype: torch.dtype,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.device, self.dtype = device, dtype
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255.0

    def __call__(self, window: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(window)).to(self.device).permute(2, 0, 1)[None].float()
        return ((x - self.mean) / self.std).to(self.dtype)


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters())
    return p.device, p.dtype


def _forward(model: nn.Module, x: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
    out = model(x)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return F.interpolate(out.float(), size=size, mode="bilinear", align_corners=align_corners)


def _scores_at_scale(model: nn.Module, image: np.ndarray, cfg: Mapping[str, Any], norm: _Normalizer,
                     flip: bool) -> torch.Tensor:
    """(K, h, w) logits of ``image`` (already at the working scale), whole or by windows."""
    h, w = image.shape[:2]
    if flip:
        image = image[:, ::-1]
    align = bool(cfg["align_corners"])
    mode = cfg["mode"]
    if mode == "whole" and cfg.get("max_whole_pixels") and h * w > int(cfg["max_whole_pixels"]):
        mode = "slide"  # a 4000x3000 photograph in one pass would need gigabytes of activations
    if mode == "whole":
        scores = _forward(model, norm(image), (h, w), align)[0]
    elif mode == "slide":
        crop = _pairs(cfg["crop_size"], "crop_size")
        stride = _pairs(cfg["stride"], "stride") if cfg.get("stride") else \
            (max(1, math.ceil(crop[0] * 2 / 3)), max(1, math.ceil(crop[1] * 2 / 3)))
        scores = count = None
        for y0, y1, x0, x1 in windows(h, w, crop, stride):
            out = _forward(model, norm(image[y0:y1, x0:x1]), (y1 - y0, x1 - x0), align)[0]
            if scores is None:
                scores = torch.zeros((out.shape[0], h, w), dtype=torch.float32, device=out.device)
                count = torch.zeros((h, w), dtype=torch.float32, device=out.device)
            scores[:, y0:y1, x0:x1] += out
            count[y0:y1, x0:x1] += 1
            del out
        scores /= count
    else:
        raise ValueError(f"test.mode: expected 'whole' or 'slide', got {cfg['mode']!r}")
    if not flip:
        return scores
    scores = scores.flip(-1)
    if cfg.get("flip_pairs"):  # the mirrored image's "left arm" is the original's right arm
        perm = flip_permutation(scores.shape[0], cfg["flip_pairs"])
        scores = scores[torch.from_numpy(perm).to(scores.device)]
    return scores


def _resize_uint8(image: np.ndarray, long_side: float) -> np.ndarray:
    h, w = image.shape[:2]
    s = long_side / max(h, w)
    size = (max(1, int(w * s + 0.5)), max(1, int(h * s + 0.5)))
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


@torch.no_grad()
def predict_scores(model: nn.Module, image: np.ndarray, test_cfg: Mapping[str, Any]) -> torch.Tensor:
    """Class scores ``(K, H, W)`` (float32, on the model's device) for a uint8 RGB image (H, W, 3).

    ``test_cfg`` keys: see :data:`SEG_TEST_DEFAULTS`. The model must be in eval mode (use
    :func:`hrseg.inference.optimize.inference_model`).
    """
    cfg = {**SEG_TEST_DEFAULTS, **test_cfg}
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"predict_scores: expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    norm = _Normalizer(*_model_device_dtype(model))
    scales = [float(s) for s in cfg["scales"]] or [1.0]
    flips = [False, True] if cfg["flip"] else [False]
    passes = len(scales) * len(flips)
    total = None
    for scale in scales:
        long_side = (cfg["base_size"] if cfg["base_size"] else max(h, w)) * scale
        scaled = _resize_uint8(image, long_side)
        for flip in flips:
            scores = _scores_at_scale(model, scaled, cfg, norm, flip)
            if scores.shape[-2:] != (h, w):
                scores = F.interpolate(scores[None], size=(h, w), mode="bilinear",
                                       align_corners=bool(cfg["align_corners"]))[0]
            if passes > 1:  # softmax in place: no second full-size tensor
                scores.sub_(scores.max(0, keepdim=True).values).exp_()
                scores.div_(scores.sum(0, keepdim=True))
            total = scores if total is None else total.add_(scores)
            del scores
    if passes > 1:
        total /= passes
    return total


def scores_to_labels(scores: torch.Tensor, band: int = 256) -> np.ndarray:
    """Argmax over classes as a uint8 (H, W) array (uint16 beyond 256 classes), computed in
    bands of rows so that no int64 map of the full image is made."""
    k, h, w = scores.shape
    out = np.empty((h, w), dtype=np.uint8 if k <= 256 else np.uint16)
    for y in range(0, h, band):
        out[y:y + band] = scores[:, y:y + band].argmax(0).to(torch.int32).cpu().numpy()
    return out


def predict_labels(model: nn.Module, image: np.ndarray, test_cfg: Mapping[str, Any]) -> np.ndarray:
    """The label map (H, W) of a uint8 RGB image: argmax of :func:`predict_scores`."""
    scores = predict_scores(model, image, test_cfg)
    labels = scores_to_labels(scores)
    del scores
    return labels
