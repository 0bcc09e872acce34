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

import cv2
import numpy as np
import torch

from hrseg.data.coco_skeleton import FLIP_PAIRS, UPPER_BODY_IDS

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "PIXEL_STD", "CropSample", "PoseAugment",
    "affine_transform", "box_to_center_scale", "fliplr_joints", "get_affine_transform",
    "half_body_center_scale", "normalize", "photometric", "top_down_crop", "transform_joints",
    "warp_crop",
]

PIXEL_STD = 200.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def box_to_center_scale(x: float, y: float, w: float, h: float, aspect_ratio: float,
                        padding: float = 1.25, pixel_std: float = PIXEL_STD
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Official ``_xywh2cs``: box centre, and the box grown to ``aspect_ratio`` (w/h) in
    units of ``pixel_std``, times ``padding``. Returns float32 ``(2,)`` arrays."""
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w * 1.0 / pixel_std, h * 1.0 / pixel_std], dtype=np.float32)
    return center, scale * padding


def _rotate(point: Sequence[float], rot_rad: float) -> list[float]:
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    return [point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs]


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    direct = a - b
    return b + np.array([-direct[1], direct[0]], dtype=np.float32)


def get_affine_transform(center: Sequence[float], scale: Sequence[float] | float, rot: float,
                         output_size: Sequence[float], shift: Sequence[float] = (0.0, 0.0),
                         inv: bool = False) -> np.ndarray:
    """The 2x3 matrix mapping the box (``center``, ``scale`` * 200, rotated by ``rot`` degrees
    counter-clockwise) onto an ``output_size`` (w, h) image; ``inv`` gives the reverse map.

    Three point pairs (box centre, the point half a box width above it, and a third point at a
    right angle) go through ``cv2.getAffineTransform`` in float32, exactly as the official
    code, so its matrices are reproduced bit for bit.
    """
    scale = np.array([scale, scale]) if np.isscalar(scale) else np.asarray(scale)
    scale_tmp = scale * PIXEL_STD
    shift = np.asarray(shift, dtype=np.float32)
    src_w = scale_tmp[0]
    dst_w, dst_h = output_size[0], output_size[1]

    rot_rad = np.pi * rot / 180
    src_dir = _rotate([0, src_w * -0.5], rot_rad)
    dst_dir = np.array([0, dst_w * -0.5], np.float32)

    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    center = np.asarray(center)
    src[0, :] = center + scale_tmp * shift
    src[1, :] = center + src_dir + scale_tmp * shift
    dst[0, :] = [dst_w * 0.5, dst_h * 0.5]
    dst[1, :] = np.array([dst_w * 0.5, dst_h * 0.5]) + dst_dir
    src[2:, :] = _third_point(src[0, :], src[1, :])
    dst[2:, :] = _third_point(dst[0, :], dst[1, :])
    if inv:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def affine_transform(points: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points of shape ``(..., 2)``."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ trans[:, :2].T + trans[:, 2]


def warp_crop(image: np.ndarray, trans: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """The affine crop: ``cv2.warpAffine`` with INTER_LINEAR and a zero border, as official."""
    return cv2.warpAffine(image, trans, (int(output_size[0]), int(output_size[1])),
                          flags=cv2.INTER_LINEAR)


def fliplr_joints(joints: np.ndarray, joints_vis: np.ndarray, width: int,
                  flip_pairs: Sequence[Sequence[int]] = FLIP_PAIRS
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mirror joints (K, 2) in an image ``width`` wide and swap left/right labels.

    As official: ``x -> width - x - 1`` and unlabelled joints are zeroed. Returns new arrays.
    """
    joints = np.array(joints, dtype=np.float32)
    vis = np.array(joints_vis, dtype=np.float32)
    joints[:, 0] = width - joints[:, 0] - 1
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
                  clip_visibility: bool = True) -> CropSample:
    """Crop one person to ``image_size`` (w, h), with official augmentation when ``augment``
    and ``rng`` are given (training), without it otherwise (evaluation)."""
    c = np.array(center, dtype=np.float32)
    s = np.array(scale, dtype=np.float32)
    joints = np.array(joints, dtype=np.float32)[:, :2]
    vis = (np.asarray(joints_vis, dtype=np.float32).reshape(-1) > 0).astype(np.float32)
    r, flipped = 0.0, False
    if augment is not None and rng is not None:
        aspect_ratio = image_size[0] / image_size[1]
        if vis.sum() > augment.num_joints_half_body and rng.random() < augment.half_body_prob:
            half = half_body_center_scale(joints, vis, aspect_ratio, rng)
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

    trans = get_affine_transform(c, s, r, image_size)
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


def normalize(image: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> float32 CHW tensor, /255 then ImageNet mean/std (as
    ``ToTensor`` + ``Normalize`` in the official code)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    sd = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return x.sub_(m).div_(sd)
