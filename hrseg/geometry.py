"""Top-down crop geometry, shared by the data side (crops, augmentation) and the heatmap codec
(mapping heatmap coordinates back to the image). It follows the official HRNet code
(``lib/utils/transforms.py``): a person is a centre and a scale (box size / ``PIXEL_STD``), the
crop is one ``cv2.warpAffine`` by :func:`get_affine_transform`, or with UDP (unbiased data processing,
Huang et al., CVPR 2020) by :func:`get_udp_affine_transform`; :func:`crop_transform` picks one."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

PIXEL_STD = 200.0


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


def get_udp_affine_transform(center: Sequence[float], scale: Sequence[float] | float, rot: float,
                             output_size: Sequence[float], inv: bool = False) -> np.ndarray:
    """UDP's crop matrix (mmpose's ``get_udp_warp_matrix``): the box (``scale`` * 200 wide and high,
    rotated by ``rot`` degrees about ``center``) onto the pixel centres ``0 .. w - 1`` of an
    ``output_size`` (w, h) image, so that a crop, its heatmaps (at ``0 .. w/4 - 1``) and their mirror
    images measure distances alike. Float32 forward, as mmpose's; ``inv`` gives the reverse map in
    float64 (heatmap or crop coordinates back to the image)."""
    scale = np.array([scale, scale]) if np.isscalar(scale) else np.asarray(scale)
    s = scale.astype(np.float64) * PIXEL_STD
    cx, cy = float(center[0]), float(center[1])
    rot_rad = np.deg2rad(rot)
    cs, sn = np.cos(rot_rad), np.sin(rot_rad)
    sx, sy = (output_size[0] - 1) / s[0], (output_size[1] - 1) / s[1]
    mat = np.array([[cs * sx, -sn * sx, sx * (-cx * cs + cy * sn + 0.5 * s[0])],
                    [sn * sy, cs * sy, sy * (-cx * sn - cy * cs + 0.5 * s[1])]], dtype=np.float64)
    return cv2.invertAffineTransform(mat) if inv else mat.astype(np.float32)


def crop_transform(center: Sequence[float], scale: Sequence[float] | float, rot: float,
                   output_size: Sequence[float], udp: bool = False, inv: bool = False) -> np.ndarray:
    """The crop matrix of a person box: the official one, or UDP's with ``udp``."""
    if udp:
        return get_udp_affine_transform(center, scale, rot, output_size, inv)
    return get_affine_transform(center, scale, rot, output_size, inv=inv)


def affine_transform(points: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points of shape ``(..., 2)``."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ trans[:, :2].T + trans[:, 2]


def warp_crop(image: np.ndarray, trans: np.ndarray, output_size: Sequence[int]) -> np.ndarray:
    """The affine crop: ``cv2.warpAffine`` with INTER_LINEAR and a zero border, as official."""
    return cv2.warpAffine(image, trans, (int(output_size[0]), int(output_size[1])),
                          flags=cv2.INTER_LINEAR)
