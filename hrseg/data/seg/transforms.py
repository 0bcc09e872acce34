"""Training and evaluation transforms for semantic segmentation.

Training follows the official configs (HRNet-Semantic-Segmentation and mmsegmentation): random
rescale of the long side to ``base_size * U(0.5, 2.0)``, random crop padded with 255 in the label,
horizontal flip, mmsegmentation's photometric distortion, ImageNet normalisation to a CHW float
tensor. Every random draw comes from the ``numpy.random.Generator``
passed in, so a sample is reproducible from its seed.

The scale: by default uniform in ``scale_range`` and the padding the mean colour (zero after
normalisation), as mmsegmentation. The official HRNet code (lib/datasets/base_dataset.py,
``gen_sample``) draws ``0.5 + random.randint(0, 16) / 10`` -- Python's randint includes 16, so
one of {0.5, 0.6, ..., 2.1} -- and pads with black: ``scale_range=(0.5, 2.1), scale_step=0.1,
pad_value=(0, 0, 0)`` (:data:`OFFICIAL_JITTER`, what the official recipes and presets use).

``squash``: the official LIP training (lib/datasets/lip.py ``__getitem__``) first flips the image,
then resizes it to the crop whatever its aspect, and only then rescales (``SCALE_FACTOR`` 11: one
of {0.5, 0.6, ..., 1.6}), pads with black and crops: ``squash=True, scale_range=(0.5, 1.6),
scale_step=0.1, pad_value=(0, 0, 0)`` with ``base_size`` the crop's side.

``short_size``: mmsegmentation's ``Resize(img_scale=(base_size, short_size), ratio_range)``: the
image rescaled, keeping its aspect, to the largest size that fits a box of ``int(base_size * r)``
by ``int(short_size * r)`` (long side by short side, ``mmcv.imrescale``), ``r`` the drawn scale.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

from hrseg.data.augment import build_randaugment
from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD
from hrseg.meta.classes import IGNORE_INDEX, flip_label_map, flip_permutation
from hrseg.utils.image import chw_uint8, denormalize, normalize  # noqa: F401  (denormalize: re-exported)

Size = tuple[int, int]  # (height, width)


def resize_pair(image: np.ndarray, label: np.ndarray | None, size: Size) -> tuple[np.ndarray, np.ndarray | None]:
    """Resize to (H, W): image bilinear, label nearest (labels are never interpolated)."""
    h, w = size
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    if label is not None:
        label = cv2.resize(label.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int64)
    return image, label


def scaled_size(shape: tuple[int, ...], scale: float) -> Size:
    """(H, W) of ``shape`` times ``scale``, rounded as ``mmcv.rescale_size``."""
    h, w = shape[:2]
    return max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))


def long_side_size(shape: tuple[int, ...], long_side: float) -> Size:
    """(H, W) with the long side ``long_side`` and the aspect ratio of ``shape``."""
    return scaled_size(shape, long_side / max(shape[:2]))


def keep_ratio_scale(shape: tuple[int, ...], long_max: float, short_max: float | None = None) -> float:
    """The factor that fits ``shape`` in a box ``long_max`` by ``short_max`` (long side by short side; None:
    the long side alone) keeping its aspect: mmsegmentation's keep-ratio ``Resize`` (``mmcv.imrescale``)."""
    h, w = shape[:2]
    scale = float(long_max) / max(h, w)
    return min(scale, float(short_max) / min(h, w)) if short_max else scale


def pad_to(image: np.ndarray, label: np.ndarray, size: Size, pad_value: tuple[int, int, int],
           ignore_index: int = IGNORE_INDEX) -> tuple[np.ndarray, np.ndarray]:
    """Pad bottom/right up to at least ``size``: image with ``pad_value``, label with ignore."""
    h, w = label.shape
    ph, pw = max(size[0] - h, 0), max(size[1] - w, 0)
    if ph == 0 and pw == 0:
        return image, label
    image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=tuple(int(v) for v in pad_value))
    label = np.pad(label, ((0, ph), (0, pw)), constant_values=ignore_index)
    return image, label


def random_crop(image: np.ndarray, label: np.ndarray, size: Size, rng: np.random.Generator,
                cat_max_ratio: float = 1.0, ignore_index: int = IGNORE_INDEX,
                attempts: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``size`` at a random place (inputs at least that large).

    ``cat_max_ratio < 1`` retries (up to ``attempts``) while one class covers more than that
    share of the labelled pixels, as mmsegmentation's ``RandomCrop``.
    """
    ch, cw = size
    h, w = label.shape
    for _ in range(attempts):
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = label[y:y + ch, x:x + cw]
        if cat_max_ratio >= 1.0:
            break
        counts = np.bincount(crop[crop != ignore_index].ravel())
        counts = counts[counts > 0]
        if len(counts) > 1 and counts.max() / counts.sum() < cat_max_ratio:
            break
    return image[y:y + ch, x:x + cw], crop


def _convert(channels: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    return np.clip(channels.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def photometric_distortion(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """mmsegmentation's ``PhotoMetricDistortion`` (0.x and 1.x), draw for draw with ``rng`` in its order: each
    step with probability 1/2, brightness +-32, then contrast x[0.5, 1.5] either before or after
    saturation x[0.5, 1.5] and hue +-18 (OpenCV's 0-180 hue, ``randint(-18, 18)``: -18..17) in HSV.
    ``image``: uint8 RGB (mmsegmentation's BGR through ``bgr2hsv``: the same HSV)."""
    def contrast(img: np.ndarray) -> np.ndarray:
        return _convert(img, alpha=rng.uniform(0.5, 1.5)) if rng.integers(2) else img

    def in_hsv(img: np.ndarray, channel: int, change: Any) -> np.ndarray:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[:, :, channel] = change(hsv[:, :, channel])
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    if rng.integers(2):
        image = _convert(image, beta=rng.uniform(-32, 32))
    contrast_first = rng.integers(2) == 1
    if contrast_first:
        image = contrast(image)
    if rng.integers(2):
        image = in_hsv(image, 1, lambda s: _convert(s, alpha=rng.uniform(0.5, 1.5)))
    if rng.integers(2):
        image = in_hsv(image, 0, lambda h: (h.astype(int) + int(rng.integers(-18, 18))) % 180)
    return image if contrast_first else contrast(image)


# The official scale jitter and padding (see the module docstring).
OFFICIAL_JITTER: dict[str, Any] = dict(scale_range=(0.5, 2.1), scale_step=0.1, pad_value=(0, 0, 0))


def sample_scale(scale_range: tuple[float, float] | list[float], step: float | None,
                 rng: np.random.Generator) -> float:
    """A scale uniform in ``scale_range``, or (``step``) one of its grid points, all equally likely."""
    lo, hi = float(scale_range[0]), float(scale_range[1])
    if not step:
        return float(rng.uniform(lo, hi))
    n = int(round((hi - lo) / float(step)))
    return lo + int(rng.integers(0, n + 1)) * float(step)


@dataclass
class SegTrainTransform:
    """Random scale, crop, flip, photometric distortion, normalisation.

    ``base_size``: long side at scale 1 (None: the image's own size); ``short_size``: mmsegmentation's
    keep-ratio box instead (the module docstring). ``crop_size`` is (H, W).
    ``pad_value`` (uint8 RGB) defaults to the mean colour, which normalises to zero. ``squash``:
    flip first, then resize to ``crop_size`` (aspect not kept) before the scale (the module docstring).
    """

    crop_size: Size = (512, 1024)
    base_size: int | None = 2048
    short_size: int | None = None  # with base_size: mmsegmentation's keep-ratio box (the module docstring)
    scale_range: tuple[float, float] = (0.5, 2.0)
    scale_step: float | None = None  # None: uniform in scale_range; else its grid lo, lo + step, ..., hi
    squash: bool = False  # flip, then resize to crop_size (aspect not kept), then scale: the official LIP order
    flip_prob: float = 0.5
    photometric: bool = True
    cat_max_ratio: float = 1.0
    pad_value: tuple[int, int, int] | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    ignore_index: int = IGNORE_INDEX
    # ``fn(uint8 image, rng) -> image``, set per stage by progressive learning (set_stage); None = off
    randaugment: Any = field(default=None, repr=False, compare=False)
    # (left, right) class pairs swapped by the horizontal flip (LIP's arms, legs, shoes)
    flip_pairs: tuple[tuple[int, int], ...] = ()
    # False: the crop comes as uint8 (3, H, W), normalised on the device (train.device_normalize)
    normalize_images: bool = True

    def set_stage(self, crop_size: Size, randaugment: float = 0.0, randaugment_ops: int = 2) -> None:
        """Crop (H, W) and photometric RandAugment magnitude (0 = off) of a training stage."""
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.randaugment = build_randaugment(randaugment, randaugment_ops)

    def __call__(self, image: np.ndarray, label: np.ndarray,
                 rng: np.random.Generator | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(rng)  # a Generator passes through; an int seeds one
        if self.squash:
            if rng.random() < self.flip_prob:
                image, label = np.ascontiguousarray(image[:, ::-1]), self._flip_label(label)
            image, label = resize_pair(image, label, self.crop_size)
        scale = sample_scale(self.scale_range, self.scale_step, rng)
        image, label = resize_pair(image, label, self.rescaled_size(label.shape, scale))
        pad = self.pad_value if self.pad_value is not None else tuple(round(m * 255) for m in self.mean)
        image, label = pad_to(image, label, self.crop_size, pad, self.ignore_index)
        image, label = random_crop(image, label, self.crop_size, rng, self.cat_max_ratio, self.ignore_index)
        if not self.squash and rng.random() < self.flip_prob:
            image, label = image[:, ::-1], self._flip_label(label)
        image = np.ascontiguousarray(image)
        if self.photometric:
            image = photometric_distortion(image, rng)
        if self.randaugment is not None:
            image = self.randaugment(image, rng)
        image = normalize(image, self.mean, self.std) if self.normalize_images else chw_uint8(image)
        return image, torch.from_numpy(np.ascontiguousarray(label, dtype=np.int64))

    def rescaled_size(self, shape: tuple[int, ...], scale: float) -> Size:
        """(H, W) an image of ``shape`` is resized to at the drawn ``scale``, before the crop."""
        long_side = self.base_size if self.base_size is not None else max(shape[:2])
        if self.short_size is None:
            return long_side_size(shape, long_side * scale)
        # mmsegmentation's box, its sides cut to whole pixels: int(img_scale * ratio)
        return scaled_size(shape, keep_ratio_scale(shape, int(long_side * scale), int(self.short_size * scale)))

    def _flip_label(self, label: np.ndarray) -> np.ndarray:
        if not self.flip_pairs:
            return label[:, ::-1]
        num = max(max(p) for p in self.flip_pairs) + 1
        return flip_label_map(label, flip_permutation(num, self.flip_pairs), self.ignore_index)


@dataclass
class SegEvalTransform:
    """Optional resize of the image, then normalisation.

    ``size``: None keeps the image (the official Cityscapes evaluation at 2048x1024), an int
    sets the long side, (H, W) sets both. The label keeps its original size unless
    ``resize_label``: predictions are resized to it, as mmsegmentation evaluates.
    """

    size: int | Size | None = None
    resize_label: bool = False
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __call__(self, image: np.ndarray, label: np.ndarray,
                 rng: np.random.Generator | int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.size is not None:
            size = long_side_size(image.shape, self.size) if isinstance(self.size, int) else tuple(self.size)
            image, resized = resize_pair(image, label if self.resize_label else None, size)
            label = resized if self.resize_label else label
        return normalize(image, self.mean, self.std), torch.from_numpy(np.ascontiguousarray(label, dtype=np.int64))


# The official training settings; crop sizes are (H, W).
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "cityscapes": dict(crop_size=(512, 1024), base_size=2048, **OFFICIAL_JITTER),
    "pascal_context": dict(crop_size=(520, 520), base_size=520, **OFFICIAL_JITTER),
}


def seg_train_transform(preset: str, **overrides: Any) -> SegTrainTransform:
    """A :class:`SegTrainTransform` with a dataset's official settings, e.g.
    ``seg_train_transform("cityscapes", crop_size=(128, 256), base_size=512)``."""
    if preset not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(TRAIN_PRESETS)}")
    return SegTrainTransform(**(TRAIN_PRESETS[preset] | overrides))
