"""Top-down pose transforms: the official HRNet affine crop and its training augmentation.

Geometry follows the official code (``lib/utils/transforms.py`` and
``JointsDataset.__getitem__``): a person is a centre and a scale (box size / ``PIXEL_STD``);
the crop is one ``cv2.warpAffine`` (INTER_LINEAR) of the image by :func:`get_affine_transform`.
Training augmentation, in the official order: half-body (p 0.3, more than 8 labelled joints),
random scale ``clip(randn * 0.35 + 1, 0.65, 1.35)``, rotation ``clip(randn * 45, -90, 90)`` with
p 0.6, horizontal flip (p 0.5) that swaps the COCO flip pairs and mirrors the centre as
``x -> width - x - 1``. Optional photometric jitter (albumentations, off by default as in the
official recipe) runs on the uint8 RGB crop before ImageNet normalisation.

Every random draw comes from an explicit ``numpy.random.Generator``, so a seed fixes a sample.
One deliberate addition: a labelled joint whose transformed position leaves the crop gets
visibility 0 (``clip_visibility``); the official code keeps it and lets the heatmap encoder
drop it only when its whole Gaussian is outside (pass ``clip_visibility=False`` for that).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hrseg.geometry import (  # noqa: F401  (re-exported)
    PIXEL_STD, affine_transform, box_to_center_scale, crop_transform, get_affine_transform, warp_crop,
)
from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported)
from hrseg.meta.keypoints import FLIP_PAIRS, UPPER_BODY_IDS
from hrseg.utils.image import normalize  # noqa: F401  (re-exported)

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "PIXEL_STD", "CropSample", "PoseAugment",
    "affine_transform", "box_to_center_scale", "fliplr_joints", "get_affine_transform",
    "half_body_center_scale", "normalize", "photometric", "top_down_crop", "transform_joints",
    "warp_crop",
]

def fliplr_joints(joints: np.ndarray, joints_vis: np.ndarray, width: int,
                  flip_pairs: Sequence[Sequence[int]] = FLIP_PAIRS, continuous: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mirror joints (K, 2) in an image ``width`` wide and swap left/right labels.

    As official top-down: ``x -> width - x - 1`` (pixel indices) and unlabelled joints are zeroed.
    ``continuous``: ``x -> width - x``, the mirror of boxes and masks in continuous coordinates
    (torchvision's keypoint R-CNN flip; the multi-task model's joints go with its boxes).
    Returns new arrays.
    """
    joints = np.array(joints, dtype=np.float32)
    vis = np.array(joints_vis, dtype=np.float32)
    joints[:, 0] = width - joints[:, 0] - (0 if continuous else 1)
    for a, b in flip_pairs:
        joints[[a, b]] = joints[[b, a]]
        vis[[a, b]] = vis[[b, a]]
    return joints * vis[:, None], vis


def half_body_center_scale(joints: np.ndarray, joints_vis: np.ndarray, aspect_ratio: float,
                           rng: np.random.Generator,
                           upper_ids: Sequence[int] = UPPER_BODY_IDS,
                           ) -> tuple[np.ndarray, np.ndarray] | None:
    """Official half-body box: the upper or lower body's labelled joints, padded 1.5x.

    Joints in ``upper_ids`` are the upper body, all others the lower body. The upper body is
    chosen when ``randn() < 0.5`` (sic: a normal draw, so p ~ 0.69, as in the
    official code) and it has more than 2 joints, else the lower body if it has more than 2;
    None when fewer than 2 joints would remain.
    """
    labelled = np.asarray(joints_vis).reshape(-1) > 0
    upper = set(upper_ids)
    upper_joints = [joints[i] for i in range(len(joints)) if labelled[i] and i in upper]
    lower_joints = [joints[i] for i in range(len(joints)) if labelled[i] and i not in upper]
    if rng.standard_normal() < 0.5 and len(upper_joints) > 2:
        selected = upper_joints
    else:
        selected = lower_joints if len(lower_joints) > 2 else upper_joints
    if len(selected) < 2:
        return None
    pts = np.asarray(selected, dtype=np.float32)
    center = pts.mean(axis=0)[:2]
    (x0, y0), (x1, y1) = pts.min(axis=0)[:2], pts.max(axis=0)[:2]
    _, scale = box_to_center_scale(x0, y0, x1 - x0, y1 - y0, aspect_ratio, padding=1.5)
    return center.astype(np.float32), scale


@dataclass
class PoseAugment:
    """Training augmentation settings; the defaults are the official COCO recipe (the
    photometric jitter, an addition, is off)."""

    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip: bool = True
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    num_joints_half_body: int = 8
    photometric: bool = False


@dataclass
class CropSample:
    """One person cropped to the network input: the uint8 RGB crop, its joints in crop pixels
    and their visibility, and the centre/scale/rotation that made it (for decoding)."""

    image: np.ndarray
    joints: np.ndarray
    joints_vis: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    rotation: float
    flipped: bool
    trans: np.ndarray


def top_down_crop(image: np.ndarray, center: np.ndarray, scale: np.ndarray, joints: np.ndarray,
                  joints_vis: np.ndarray, image_size: Sequence[int],
                  rng: np.random.Generator | None = None, augment: PoseAugment | None = None,
                  flip_pairs: Sequence[Sequence[int]] = FLIP_PAIRS,
                  clip_visibility: bool = True, upper_ids: Sequence[int] = UPPER_BODY_IDS,
                  udp: bool = False) -> CropSample:
    """Crop one person to ``image_size`` (w, h), with official augmentation when ``augment``
    and ``rng`` are given (training), without it otherwise (evaluation). ``upper_ids``: the
    upper-body joints of the half-body augmentation (empty: no half-body crops); ``udp``: UDP's
    crop matrix (:func:`hrseg.geometry.get_udp_affine_transform`; the flip's ``x -> width - x - 1``
    is already UDP's mirror about the pixel centres)."""
    c = np.array(center, dtype=np.float32)
    s = np.array(scale, dtype=np.float32)
    joints = np.array(joints, dtype=np.float32)[:, :2]
    vis = (np.asarray(joints_vis, dtype=np.float32).reshape(-1) > 0).astype(np.float32)
    r, flipped = 0.0, False
    if augment is not None and rng is not None:
        aspect_ratio = image_size[0] / image_size[1]
        if len(upper_ids) and vis.sum() > augment.num_joints_half_body and rng.random() < augment.half_body_prob:
            half = half_body_center_scale(joints, vis, aspect_ratio, rng, upper_ids)
            if half is not None:
                c, s = half
        sf, rf = augment.scale_factor, augment.rotation_factor
        s = (s * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)).astype(np.float32)
        if rng.random() <= augment.rotation_prob:
            r = float(np.clip(rng.standard_normal() * rf, -rf * 2, rf * 2))
        if augment.flip and rng.random() <= augment.flip_prob:
            image = image[:, ::-1]
            joints, vis = fliplr_joints(joints, vis, image.shape[1], flip_pairs)
            c[0] = image.shape[1] - c[0] - 1
            flipped = True

    trans = crop_transform(c, s, r, image_size, udp=udp)
    crop = warp_crop(np.ascontiguousarray(image), trans, image_size)
    if augment is not None and rng is not None and augment.photometric:
        crop = photometric(crop, rng)
    joints, vis = transform_joints(joints, vis, trans, image_size, clip_visibility)
    return CropSample(crop, joints, vis, c, s.astype(np.float32), r, flipped, trans)


def transform_joints(joints: np.ndarray, joints_vis: np.ndarray, trans: np.ndarray,
                     image_size: Sequence[int], clip_visibility: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Labelled joints (K, 2) through the crop affine (unlabelled ones are left as they are,
    as official); with ``clip_visibility`` those landing outside the ``image_size`` (w, h)
    crop become unlabelled. Returns new float32 arrays."""
    joints = np.array(joints, dtype=np.float32)[:, :2]
    vis = (np.asarray(joints_vis, dtype=np.float32).reshape(-1) > 0).astype(np.float32)
    labelled = vis > 0
    joints[labelled] = affine_transform(joints[labelled], trans)
    if clip_visibility:
        x, y = joints[:, 0], joints[:, 1]
        inside = (x >= 0) & (x < image_size[0]) & (y >= 0) & (y < image_size[1])
        vis = vis * inside
    return joints, vis.astype(np.float32)


_PHOTOMETRIC: Any = None


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter on a uint8 RGB image through albumentations, seeded from ``rng``:
    brightness/contrast (p 0.5) and hue/saturation/value (p 0.3)."""
    global _PHOTOMETRIC
    if _PHOTOMETRIC is None:
        import albumentations as A  # imported on first use: it is slow to import

        _PHOTOMETRIC = A.Compose([
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=20, val_shift_limit=10,
                                 p=0.3),
        ])
    _PHOTOMETRIC.set_random_seed(int(rng.integers(2**31 - 1)))
    return _PHOTOMETRIC(image=image)["image"]


