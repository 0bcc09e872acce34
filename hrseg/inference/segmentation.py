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

Official protocols (``test.protocol``): ``"official"`` runs the official HRNet-Semantic-Segmentation
``multi_scale_inference`` of ``test.protocol_dataset`` at ``test.scales`` / ``test.flip``, and
``"official_ms"`` the same at the published multi-scale + flip setting (:data:`OFFICIAL_MS`):

- ``cityscapes`` (lib/datasets/cityscapes.py): scales <= 1 in one pass, larger ones in
  ``crop_size`` (1024x2048) windows at a stride of one crop, the last row and column aligned to
  the far edges;
- ``pascal_context`` (lib/datasets/base_dataset.py): an image whose long side fits the 520x520
  crop is padded with black to it and run in one pass, larger ones in 520x520 windows at 2/3 of
  the crop (346), edge windows padded with black;
- ``lip`` (lib/datasets/lip.py, the ``testval`` list of the published evaluation): the image is
  squashed to the crop (473x473, aspect not kept), run as ``pascal_context``, the flipped pass's
  left/right arm, leg and shoe channels exchanged (:data:`~hrseg.meta.classes.LIP_FLIP_PAIRS`),
  and the scores resized back to the image.
- ``ade20k`` and ``cocostuff`` (lib/datasets/{ade20k,cocostuff}.py on the ``testval`` list): the
  image's short side resized to ``base_size`` (520) and its bottom and right padded with the mean
  colour to a multiple of 8 (``resize_short_length(fit_stride=8)``), then run as ``pascal_context``;
  COCO-Stuff cuts the padding off the scores before they are resized to the image, ADE20K does not
  (its ``testval`` returns no padding), so its scores are stretched by up to 7 pixels, as published.

Every pass gives ``exp(logits)`` (with flip: of the mean of the logits of the image and of its
mirror); windows are averaged where they overlap, and the scales summed. One difference: the
official code resizes the normalised float image, hrseg the uint8 one (rounding below 1/255;
LIP's squash is on the uint8 image in both).

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

from hrseg.data.seg.transforms import keep_ratio_scale, long_side_size
from hrseg.errors import ConfigError
from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD
from hrseg.meta.classes import LIP_FLIP_PAIRS, flip_permutation
from hrseg.models.segmentation import class_indices

# The test settings and their defaults (the schema of a config's ``test`` section).
SEG_TEST_DEFAULTS: dict[str, Any] = dict(
    mode="whole",  # "whole": the image in one pass; "slide": crop_size windows, stride apart
    crop_size=[512, 1024],  # H, W of a sliding window
    stride=None,  # H, W between windows; None = 2/3 of crop_size, as the official code
    base_size=None,  # long side the image is resized to at scale 1.0 (None: kept as it is)
    # with base_size, mmsegmentation's Resize(scale=(base_size, short_size), keep_ratio=True): the image scaled
    # by min(base_size / long side, short_size / short side) (its ADE20K and VOC tests: 2048 and 512)
    short_size=None,
    scales=[1.0],  # multi-scale: factors on base_size (or on the image size)
    flip=False,  # also predict the horizontally flipped image and average
    optimize=True,  # the validation during training: BatchNorm folded + channels_last
    # what the tools run the model on: None / "auto" (the fastest installed, logged), torch (eager),
    # optimized, compiled, onnxruntime or openvino (exported, self-checked, cached; docs/deploy.md)
    backend=None,
    # logits -> input size interpolation; None: the model's own ``align_corners`` (what its weights
    # were trained with, as the official code's one MODEL.ALIGN_CORNERS serves training and test)
    align_corners=None,
    max_whole_pixels=2048 * 2048,  # "whole" images larger than this go by sliding windows instead
    window_batch=4,  # sliding windows per forward pass (memory stays flat in the image size)
    # "slide": an image smaller than the crop padded with black to it (its scores cut back), so that
    # every window has the crop's size: what a fixed-size exported graph takes (set in its record)
    pad_to_crop=False,
    protocol=None,  # None: the above; "official" / "official_ms": the official inference (module docstring)
    # whose official inference: "cityscapes", "pascal_context", "lip", "ade20k" or "cocostuff"
    protocol_dataset=None,
    flip_pairs=[],  # [[left, right], ...] classes swapped in the flipped pass (LIP's arms, legs, shoes)
)
PROTOCOLS = (None, "official", "official_ms")
# The published test of each dataset (HRNet-Semantic-Segmentation README, the TEST.SCALE_LIST /
# TEST.FLIP_TEST of its evaluation commands; BASE_SIZE and the windows of the TEST section of
# experiments/{cityscapes,pascal_ctx,lip,ade20k,cocostuff}/*.yaml): multi-scale + flip, LIP's one scale + flip;
# PASCAL-Context, ADE20K and COCO-Stuff share the 520x520 setting.
_MS_520 = dict(scales=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0], flip=True, base_size=520, crop_size=[520, 520])
OFFICIAL_MS: dict[str, dict[str, Any]] = {
    "cityscapes": dict(scales=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75], flip=True, base_size=2048, crop_size=[1024, 2048]),
    "pascal_context": _MS_520, "ade20k": _MS_520, "cocostuff": _MS_520,
    "lip": dict(scales=[1.0], flip=True, base_size=473, crop_size=[473, 473]),
}
# The datasets whose testval resizes the short side first and pads to this stride (module docstring)
SHORT_SIDE_STRIDE = {"ade20k": 8, "cocostuff": 8}


def resolve_test_settings(test_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``test_cfg`` over :data:`SEG_TEST_DEFAULTS`, with the settings ``test.protocol`` names."""
    cfg = {**SEG_TEST_DEFAULTS, **test_cfg}
    if cfg["mode"] not in ("whole", "slide"):
        raise ConfigError(f"test.mode: expected 'whole' or 'slide', got {cfg['mode']!r}")
    protocol, dataset = cfg["protocol"], cfg["protocol_dataset"]
    if protocol not in PROTOCOLS:
        raise ConfigError(f"test.protocol: expected one of {', '.join(map(str, PROTOCOLS))}, got {protocol!r}")
    if protocol is not None and dataset not in OFFICIAL_MS:
        raise ConfigError(f"test.protocol={protocol!r} needs test.protocol_dataset, one of "
                          f"{', '.join(OFFICIAL_MS)} (got {dataset!r})")
    if protocol == "official_ms":
        cfg.update(OFFICIAL_MS[dataset])
    if protocol is not None and dataset in SHORT_SIDE_STRIDE and not cfg["base_size"]:
        raise ConfigError(f"test.protocol_dataset={dataset!r} resizes the short side to test.base_size: set it (520)")
    return cfg


def with_align_corners(test_cfg: Mapping[str, Any], model: nn.Module) -> dict[str, Any]:
    """``test_cfg`` with ``align_corners`` decided: its own when set, else ``model``'s (an
    exported file records its model's)."""
    if test_cfg.get("align_corners") is not None:
        return dict(test_cfg)
    return {**test_cfg, "align_corners": bool(getattr(model, "align_corners", False))}


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
    else:  # "slide" (resolve_test_settings refused any other mode)
        crop = _pairs(cfg["crop_size"], "crop_size")
        stride = _pairs(cfg["stride"], "stride") if cfg.get("stride") else \
            (max(1, math.ceil(crop[0] * 2 / 3)), max(1, math.ceil(crop[1] * 2 / 3)))
        if cfg.get("pad_to_crop"):
            image = _pad_black(image, crop)
        scores = count = None
        grid = list(windows(*image.shape[:2], crop, stride))  # every window has the same size: they batch
        batch = max(1, int(cfg.get("window_batch", 1)))
        for i in range(0, len(grid), batch):
            part = grid[i:i + batch]
            y0, y1, x0, x1 = part[0]
            outs = _forward(model, torch.cat([norm(image[a:b, c:d]) for a, b, c, d in part]), (y1 - y0, x1 - x0),
                            align)
            if scores is None:
                scores = torch.zeros((outs.shape[1], *image.shape[:2]), dtype=torch.float32, device=outs.device)
                count = torch.zeros(image.shape[:2], dtype=torch.float32, device=outs.device)
            for (y0, y1, x0, x1), out in zip(part, outs):
                scores[:, y0:y1, x0:x1] += out
                count[y0:y1, x0:x1] += 1
            del outs
        scores = (scores / count)[:, :h, :w]
    if not flip:
        return scores
    scores = scores.flip(-1)
    if cfg.get("flip_pairs"):  # the mirrored image's "left arm" is the original's right arm
        perm = flip_permutation(scores.shape[0], cfg["flip_pairs"])
        scores = scores[torch.from_numpy(perm).to(scores.device)]
    return scores


def base_long_side(cfg: Mapping[str, Any], h: int, w: int) -> float:
    """The long side an (h, w) image has at scale 1.0: ``base_size`` (None: its own), no more than makes its
    short side ``short_size`` where that is set (mmsegmentation's keep-ratio resize, :data:`SEG_TEST_DEFAULTS`)."""
    return max(h, w) * keep_ratio_scale((h, w), cfg["base_size"] or max(h, w), cfg.get("short_size"))


def _resize_uint8(image: np.ndarray, long_side: float) -> np.ndarray:
    size = long_side_size(image.shape, long_side)
    if size == image.shape[:2]:
        return image
    return cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR)


@torch.no_grad()
def predict_scores(model: nn.Module, image: np.ndarray, test_cfg: Mapping[str, Any]) -> torch.Tensor:
    """Class scores ``(K, H, W)`` (float32, on the model's device) for a uint8 RGB image (H, W, 3).

    ``test_cfg`` keys: see :data:`SEG_TEST_DEFAULTS`. The model must be in eval mode (use
    :func:`hrseg.inference.optimize.inference_model`).
    """
    cfg = with_align_corners(resolve_test_settings(test_cfg), model)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"predict_scores: expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    norm = _Normalizer(*_model_device_dtype(model))
    if cfg["protocol"] is not None:
        return _official_scores(model, image, cfg, norm)
    scales = [float(s) for s in cfg["scales"]] or [1.0]
    flips = [False, True] if cfg["flip"] else [False]
    passes = len(scales) * len(flips)
    total = None
    for scale in scales:
        long_side = base_long_side(cfg, h, w) * scale
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


# -- the official protocols ------------------------------------------------------------------------
def _exp_logits(model: nn.Module, window: np.ndarray, norm: _Normalizer, flip: bool, align: bool,
                pairs: Sequence[Sequence[int]] = ()) -> torch.Tensor:
    """The official ``inference``: exp of the logits at the window's size (flip: of their mean
    with the mirrored window's, whose ``pairs`` of channels are exchanged, as LIP's ``inference``)."""
    size = window.shape[:2]
    logits = _forward(model, norm(window), size, align)[0]
    if flip:
        mirrored = _forward(model, norm(window[:, ::-1]), size, align)[0].flip(-1)
        if pairs:
            mirrored = mirrored[torch.from_numpy(flip_permutation(mirrored.shape[0], pairs)).to(mirrored.device)]
        logits = (logits + mirrored) * 0.5
    return logits.exp_()


def _pad_black(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pad bottom / right to at least ``size`` with black (the official ``-mean / std``)."""
    ph, pw = max(size[0] - image.shape[0], 0), max(size[1] - image.shape[1], 0)
    return np.pad(image, ((0, ph), (0, pw), (0, 0))) if ph or pw else image


def _padded_windows(height: int, width: int, crop: tuple[int, int], stride: tuple[int, int]
                    ) -> Iterator[tuple[int, int, int, int]]:
    """PASCAL-Context's grid: windows at multiples of the stride, cut by the far edges (and
    padded back to the crop by the caller); ``(y0, y1, x0, x1)``."""
    rows = math.ceil((height - crop[0]) / stride[0]) + 1
    cols = math.ceil((width - crop[1]) / stride[1]) + 1
    for r in range(rows):
        for c in range(cols):
            yield (r * stride[0], min(r * stride[0] + crop[0], height),
                   c * stride[1], min(c * stride[1] + crop[1], width))


def _windowed(model: nn.Module, image: np.ndarray, crop: tuple[int, int], stride: tuple[int, int],
              norm: _Normalizer, flip: bool, align: bool, pad_edges: bool,
              pairs: Sequence[Sequence[int]] = ()) -> torch.Tensor:
    """Mean of the windows' exp(logits) over an image at least ``crop`` large: Cityscapes'
    grid (:func:`windows`, the last ones moved back to the edges) or, ``pad_edges``,
    PASCAL-Context's (:func:`_padded_windows`)."""
    h, w = image.shape[:2]
    scores = count = None
    grid = _padded_windows(h, w, crop, stride) if pad_edges else windows(h, w, crop, stride)
    for y0, y1, x0, x1 in grid:
        window = image[y0:y1, x0:x1]
        if pad_edges and (y1 == h or x1 == w):
            window = _pad_black(window, crop)
        out = _exp_logits(model, window, norm, flip, align, pairs)[:, :y1 - y0, :x1 - x0]
        if scores is None:
            scores = torch.zeros((out.shape[0], h, w), dtype=torch.float32, device=out.device)
            count = torch.zeros((h, w), dtype=torch.float32, device=out.device)
        scores[:, y0:y1, x0:x1] += out
        count[y0:y1, x0:x1] += 1
    return scores / count


def _short_side_padded(image: np.ndarray, short: int, stride: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``resize_short_length(short_length=short, fit_stride=stride)`` of the official base_dataset.py: the short
    side ``short``, then the bottom and right padded with the mean colour (rounded to uint8 by OpenCV, as
    the official BGR image is) to multiples of ``stride``; the image and the padding (rows, columns)."""
    h, w = image.shape[:2]
    size = (int(w * short / h + 0.5), short) if h < w else (short, int(h * short / w + 0.5))
    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    pad_h, pad_w = -size[1] % stride, -size[0] % stride
    mean = tuple(255.0 * m for m in IMAGENET_MEAN)
    return cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=mean), (pad_h, pad_w)


def _official_scores(model: nn.Module, image: np.ndarray, cfg: Mapping[str, Any], norm: _Normalizer) -> torch.Tensor:
    """Sum over the scales of the official per-scale exp(logits) at the image's size."""
    h, w = image.shape[:2]
    crop, flip, align = _pairs(cfg["crop_size"], "crop_size"), bool(cfg["flip"]), bool(cfg["align_corners"])
    dataset = cfg["protocol_dataset"]
    pairs: Sequence[Sequence[int]] = ()
    padding = (0, 0)
    if dataset == "lip":  # lib/datasets/lip.py testval: squashed to the crop; LIP's inference swaps sides
        image = cv2.resize(image, (crop[1], crop[0]), interpolation=cv2.INTER_LINEAR)
        pairs = LIP_FLIP_PAIRS
    elif dataset in SHORT_SIDE_STRIDE:
        image, padding = _short_side_padded(image, int(cfg["base_size"]), SHORT_SIDE_STRIDE[dataset])
    pascal = dataset != "cityscapes"  # the others run base_dataset.multi_scale_inference
    ih, iw = image.shape[:2]
    total = None
    for scale in [float(s) for s in cfg["scales"]] or [1.0]:
        scaled = _resize_uint8(image, int((cfg["base_size"] or max(ih, iw)) * scale + 0.5))
        sh, sw = scaled.shape[:2]
        if pascal and max(sh, sw) <= min(crop):
            scores = _exp_logits(model, _pad_black(scaled, crop), norm, flip, align, pairs)[:, :sh, :sw]
        elif not pascal and scale <= 1.0:
            scores = _exp_logits(model, scaled, norm, flip, align)
        elif pascal:
            stride = (int(crop[0] * 2.0 / 3.0), int(crop[1] * 2.0 / 3.0))
            scores = _windowed(model, _pad_black(scaled, crop), crop, stride, norm, flip, align, True,
                               pairs)[:, :sh, :sw]
        else:
            scores = _windowed(model, scaled, crop, crop, norm, flip, align, False)
        scores = F.interpolate(scores[None], size=(ih, iw), mode="bilinear", align_corners=align)[0]
        total = scores if total is None else total.add_(scores)
    if dataset == "cocostuff":  # function.py testval: the border padding cut off (ADE20K returns none)
        total = total[:, :ih - padding[0], :iw - padding[1]]
    if total.shape[-2:] != (h, w):  # LIP, ADE20K, COCO-Stuff: testval resizes the prediction to the label
        total = F.interpolate(total[None], size=(h, w), mode="bilinear", align_corners=align)[0]
    return total


def scores_to_labels(scores: torch.Tensor, band: int = 256) -> np.ndarray:
    """Argmax over classes as a uint8 (H, W) array (uint16 beyond 256 classes), computed in
    bands of rows so that no int64 map of the full image is made."""
    k, h, w = scores.shape
    out = np.empty((h, w), dtype=np.uint8 if k <= 256 else np.uint16)
    for y in range(0, h, band):
        out[y:y + band] = class_indices(scores[:, y:y + band]).to(torch.int32).cpu().numpy()
    return out


def predict_labels(model: nn.Module, image: np.ndarray, test_cfg: Mapping[str, Any]) -> np.ndarray:
    """The label map (H, W) of a uint8 RGB image: argmax of :func:`predict_scores`."""
    scores = predict_scores(model, image, test_cfg)
    labels = scores_to_labels(scores)
    del scores
    return labels
