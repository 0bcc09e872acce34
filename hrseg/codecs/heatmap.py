"""Gaussian heatmap codec for top-down pose: targets for training, coordinates from outputs.

:func:`encode` is the official ``generate_target``: per joint, an unnormalised Gaussian (peak
1, ``sigma`` in heatmap pixels, drawn in a ``6 * sigma + 1`` window) centred on the joint
rounded to the heatmap grid, ``int(x / stride + 0.5)``; the target weight is 0 for unlabelled
joints and for joints whose window lies wholly outside the heatmap. ``unbiased=True`` draws
the Gaussian at the exact sub-pixel position instead (DARK's unbiased encoding).

One departure, where ``3 * sigma`` is not an integer (a codec rescaled to another input size,
:meth:`hrseg.codecs.msra.HeatmapCodec.rescaled`: sigma 0.75, 1.125, 2.625, ...): the official
code (and mmpose's ``MSRAHeatmap``) paste a Gaussian centred ``size // 2`` cells into a window
starting at ``int(mu - 3 sigma)``, which puts the peak one cell off the joint (``mu - 1``; ``mu + 1``
within ``3 sigma`` of the top or left edge, where ``int`` rounds toward zero). Here the Gaussian is
centred on ``mu`` over the cells within ``floor(3 sigma)`` of it: for the official recipes' sigma
2 and 3 the same targets as theirs, bit for bit.

``udp=True`` is UDP's encoding (unbiased data processing, Huang et al., CVPR 2020; mmpose's
``UDPHeatmap``): the crop (:func:`hrseg.geometry.get_udp_affine_transform`) puts the box on pixel
centres, the heatmap grid is the crop's at stride ``(input - 1) / (heatmap - 1)``, and the Gaussian
is drawn at the joint's exact sub-pixel position over the cells within ``floor(3 sigma)`` of the
joint rounded (``generate_udp_gaussian_heatmaps``; the same window correction as above for
non-integer ``3 sigma``).

:func:`decode` is the official ``get_final_preds``: argmax per heatmap (coordinates zeroed
where the maximum is <= 0), then either the quarter-pixel shift toward the higher neighbour
(``"argmax"``, official ``POST_PROCESS``), DARK's Taylor refinement (``"dark"``: Gaussian blur
of kernel 11 rescaled to the original peak, log, one Newton step with the second-order
derivatives, as mmpose's ``refine_keypoints_dark``), or nothing (``"none"``); the heatmap
coordinates then go back to the image through the inverse crop affine (``transform_preds``). With
``udp``, ``"dark"`` is UDP's variant (mmpose's ``refine_keypoints_dark_udp``: the log of the blurred
map clipped to [1e-3, 50], edge-padded, so peaks on the border are refined too) and the way back is
UDP's inverse crop.
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
import torch

from hrseg.meta.keypoints import JOINT_WEIGHTS
from hrseg.geometry import affine_transform, crop_transform

__all__ = ["as_heatmaps", "decode", "encode", "to_image", "window_radius", "get_max_preds", "refine_dark",
           "refine_dark_udp", "refine_quarter_offset", "transform_preds", "udp_stride", "DECODERS"]

DECODERS = ("argmax", "dark", "none")


def window_radius(sigma: float) -> int:
    """The cells a joint's Gaussian reaches on each side: ``floor(3 * sigma)`` (3 sigma computed
    as 5.9999999 counts as 6)."""
    return int(math.floor(3 * float(sigma) + 1e-6))


def udp_stride(image_size: Sequence[int], heatmap_size: Sequence[int]) -> np.ndarray:
    """UDP's crop-to-heatmap stride per axis, ``(input - 1) / (heatmap - 1)``, in float32 as mmpose's
    ``UDPHeatmap.scale_factor``; sizes are (w, h)."""
    return ((np.asarray(image_size, dtype=np.float64) - 1) / (np.asarray(heatmap_size, dtype=np.float64) - 1)
            ).astype(np.float32)


def encode(joints: np.ndarray, joints_vis: np.ndarray, image_size: Sequence[int] = (192, 256),
           heatmap_size: Sequence[int] = (48, 64), sigma: float = 2.0,
           use_different_joints_weight: bool = False,
           joint_weights: Sequence[float] = JOINT_WEIGHTS, unbiased: bool = False, udp: bool = False
           ) -> tuple[np.ndarray, np.ndarray]:
    """Heatmap targets (K, H, W) float32 and target weights (K, 1) float32 for joints (K, 2)
    given in input-crop pixels; sizes are (w, h)."""
    joints = np.asarray(joints, dtype=np.float32)
    num_joints = joints.shape[0]
    hm_w, hm_h = int(heatmap_size[0]), int(heatmap_size[1])
    if udp:  # float32, as mmpose's keypoints / scale_factor
        stride = udp_stride(image_size, heatmap_size)
    else:
        stride = np.asarray(image_size, dtype=np.float64) / np.asarray(heatmap_size, dtype=np.float64)
    vis = np.asarray(joints_vis, dtype=np.float32).reshape(num_joints, 1)
    weight = (vis > 0).astype(np.float32)
    target = np.zeros((num_joints, hm_h, hm_w), dtype=np.float32)
    tmp_size = sigma * 3
    radius = window_radius(sigma)
    grid = np.float64 if udp else np.float32  # UDP's Gaussian at a sub-pixel centre, in float64 as mmpose's
    xs = np.arange(hm_w, dtype=grid)
    ys = np.arange(hm_h, dtype=grid)[:, None]
    for j in range(num_joints):
        if weight[j, 0] <= 0.5:
            continue
        ex, ey = joints[j, 0] / stride[0], joints[j, 1] / stride[1]  # numpy scalars: float64, UDP's float32
        if unbiased:  # DarkPose's window test (int() of the sub-pixel bounds)
            mu_x, mu_y = ex, ey
            ul = (int(mu_x - tmp_size), int(mu_y - tmp_size))
            br = (int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1))
        else:  # the official window for integer 3 * sigma; centred on mu for any (module docstring)
            mu_x, mu_y = int(ex + 0.5), int(ey + 0.5)
            ul = (mu_x - radius, mu_y - radius)
            br = (mu_x + radius + 1, mu_y + radius + 1)
        if ul[0] >= hm_w or ul[1] >= hm_h or br[0] < 0 or br[1] < 0:
            weight[j] = 0
            continue
        if unbiased:
            target[j] = np.exp(-((xs - mu_x) ** 2 + (ys - mu_y) ** 2) / (2 * sigma ** 2))
            continue
        cx, cy = (ex, ey) if udp else (mu_x, mu_y)
        x0, x1, y0, y1 = max(0, ul[0]), min(br[0], hm_w), max(0, ul[1]), min(br[1], hm_h)
        target[j, y0:y1, x0:x1] = np.exp(-((xs[x0:x1] - cx) ** 2 + (ys[y0:y1] - cy) ** 2) / (2 * sigma ** 2))
    if use_different_joints_weight:
        weight = weight * np.asarray(joint_weights, dtype=np.float32).reshape(num_joints, 1)
    return target, weight


def as_heatmaps(heatmaps: np.ndarray | torch.Tensor) -> np.ndarray:
    """Heatmaps (N, C, H, W) as a float32 NumPy array (a tensor detached and copied to the host)."""
    if isinstance(heatmaps, torch.Tensor):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {heatmaps.shape}")
    return heatmaps


def get_max_preds(heatmaps: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Official ``get_max_preds``: argmax coordinates (N, K, 2) in heatmap pixels (zeroed
    where the maximum is <= 0) and the maxima (N, K, 1)."""
    heatmaps = as_heatmaps(heatmaps)
    n, k, _, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, -1)
    idx = np.argmax(flat, 2)
    maxvals = np.amax(flat, 2).reshape(n, k, 1)
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    coords *= (maxvals > 0.0).astype(np.float32)
    return coords, maxvals


def refine_quarter_offset(coords: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Official ``POST_PROCESS``: move 0.25 px toward the higher neighbour on each axis (both
    axes only when the peak is at least 2 px inside the map). Returns new coordinates."""
    coords = coords.copy()
    _, _, h, w = heatmaps.shape
    for n, p in np.ndindex(*coords.shape[:2]):
        hm = heatmaps[n, p]
        px = int(np.floor(coords[n, p, 0] + 0.5))
        py = int(np.floor(coords[n, p, 1] + 0.5))
        if 1 < px < w - 1 and 1 < py < h - 1:
            diff = np.array([hm[py, px + 1] - hm[py, px - 1], hm[py + 1, px] - hm[py - 1, px]])
            coords[n, p] += np.sign(diff) * 0.25
    return coords


def _blur_keep_peak(maps: np.ndarray, kernel: int) -> np.ndarray:
    """DARK's modulation of maps (M, H, W): Gaussian blur (zero border) rescaled to each map's
    original maximum. One map a call: OpenCV blurring the maps as the channels of one image was
    slower (1,088 maps of 64x48: 188 against 81 ms on 2 cores)."""
    border = (kernel - 1) // 2
    m, h, w = maps.shape
    padded = np.zeros((h + 2 * border, w + 2 * border), dtype=np.float32)
    blurred = np.empty((m, h, w), dtype=np.float32)
    for i in range(m):
        padded[border:h + border, border:w + border] = maps[i]
        blurred[i] = cv2.GaussianBlur(padded, (kernel, kernel), 0)[border:h + border, border:w + border]
    peak, bmax = maps.reshape(m, -1).max(1), blurred.reshape(m, -1).max(1)
    scale = np.divide(peak, bmax, out=np.ones_like(peak), where=bmax != 0)
    return blurred * scale[:, None, None]


def refine_dark(coords: np.ndarray, heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK (Zhang et al., CVPR 2020) sub-pixel refinement of argmax coordinates.

    ``kernel`` should match the training sigma (11 for sigma 2, 17 for sigma 3). Peaks within
    2 px of the border keep their argmax position. Returns new coordinates.
    """
    if kernel % 2 != 1:
        raise ValueError(f"DARK blur kernel must be odd, got {kernel}")
    coords = coords.copy()
    h, w = heatmaps.shape[2:]
    xs, ys = coords[..., 0].astype(int), coords[..., 1].astype(int)
    inside = (xs > 1) & (xs < w - 2) & (ys > 1) & (ys < h - 2)
    blurred = np.zeros_like(heatmaps)
    if inside.any():  # only a 5x5 neighbourhood is read, but the blur must see the whole map (peak rescale)
        blurred[inside] = _blur_keep_peak(heatmaps[inside], kernel)
    for n, p in zip(*np.nonzero(inside)):
        x, y = int(coords[n, p, 0]), int(coords[n, p, 1])
        hm = np.log(np.maximum(blurred[n, p], 1e-10))
        dx = 0.5 * (hm[y, x + 1] - hm[y, x - 1])
        dy = 0.5 * (hm[y + 1, x] - hm[y - 1, x])
        dxx = 0.25 * (hm[y, x + 2] - 2 * hm[y, x] + hm[y, x - 2])
        dxy = 0.25 * (hm[y + 1, x + 1] - hm[y - 1, x + 1] - hm[y + 1, x - 1] + hm[y - 1, x - 1])
        dyy = 0.25 * (hm[y + 2, x] - 2 * hm[y, x] + hm[y - 2, x])
        det = dxx * dyy - dxy ** 2
        if det != 0:
            hessian = np.array([[dxx, dxy], [dxy, dyy]], dtype=np.float64)
            coords[n, p] -= np.linalg.inv(hessian) @ np.array([dx, dy], dtype=np.float64)
    return coords


def refine_dark_udp(coords: np.ndarray, heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """UDP's DARK refinement (mmpose's ``refine_keypoints_dark_udp``), for all peaks at once: the
    blurred map (as :func:`refine_dark`) clipped to [1e-3, 50] and logged, edge-padded by one cell, one
    Newton step with central differences (the Hessian regularised by float32's eps). Returns new
    coordinates."""
    if kernel % 2 != 1:
        raise ValueError(f"DARK blur kernel must be odd, got {kernel}")
    n, k, h, w = heatmaps.shape
    if not n * k:
        return coords.copy()
    maps = _blur_keep_peak(heatmaps.reshape(n * k, h, w), kernel)
    flat = coords.reshape(n * k, 2)
    x, y, i = flat[:, 0].astype(int), flat[:, 1].astype(int), np.arange(n * k)

    def log_at(dx: int, dy: int) -> np.ndarray:  # the edge-padded log-map (an index clamped to the map)
        cells = maps[i, np.clip(y + dy, 0, h - 1), np.clip(x + dx, 0, w - 1)]
        return np.log(np.clip(cells, 1e-3, 50.0)).astype(np.float64)

    centre, right, left, down, up = log_at(0, 0), log_at(1, 0), log_at(-1, 0), log_at(0, 1), log_at(0, -1)
    gradient = np.stack([0.5 * (right - left), 0.5 * (down - up)], -1)[..., None]
    dxx, dyy = right - 2 * centre + left, down - 2 * centre + up
    dxy = 0.5 * (log_at(1, 1) - right - down + 2 * centre - left - up + log_at(-1, -1))
    hessian = np.stack([np.stack([dxx, dxy], -1), np.stack([dxy, dyy], -1)], -2)
    step = np.linalg.inv(hessian + np.finfo(np.float32).eps * np.eye(2)) @ gradient
    return (flat - step[..., 0]).reshape(coords.shape).astype(coords.dtype)


def transform_preds(coords: np.ndarray, center: np.ndarray, scale: np.ndarray,
                    output_size: Sequence[int], udp: bool = False) -> np.ndarray:
    """Official ``transform_preds``: heatmap (or crop) coordinates (K, 2) back to the image,
    through the inverse of the unrotated crop affine for an ``output_size`` (w, h) map (UDP's
    with ``udp``, as mmpose's ``transform_preds(..., use_udp=True)``)."""
    trans = crop_transform(center, scale, 0, output_size, udp=udp, inv=True)
    return affine_transform(coords[..., :2], trans)


def decode(heatmaps: np.ndarray | torch.Tensor, centers: np.ndarray, scales: np.ndarray,
           method: str = "argmax", blur_kernel: int = 11, udp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in image pixels (N, K, 2) and their heatmap maxima (N, K, 1) from heatmaps
    (N, K, H, W) of crops with ``centers``/``scales`` (N, 2); ``udp``: of UDP crops."""
    if method not in DECODERS:
        raise ValueError(f"unknown heatmap decoder {method!r}; expected one of {DECODERS}")
    heatmaps = as_heatmaps(heatmaps)
    coords, maxvals = get_max_preds(heatmaps)
    if method == "argmax":
        coords = refine_quarter_offset(coords, heatmaps)
    elif method == "dark":
        coords = (refine_dark_udp if udp else refine_dark)(coords, heatmaps, blur_kernel)
    return to_image(coords, centers, scales, heatmaps.shape[:1:-1], udp), maxvals


def to_image(coords: np.ndarray, centers: np.ndarray, scales: np.ndarray, heatmap_size: Sequence[int],
             udp: bool = False) -> np.ndarray:
    """Heatmap coordinates (N, K, 2) of crops with ``centers`` / ``scales`` (N, 2) back in image
    pixels (N, K, 2), for heatmaps of ``heatmap_size`` (w, h)."""
    centers, scales = np.asarray(centers), np.asarray(scales)
    return np.stack([transform_preds(coords[i], centers[i], scales[i], heatmap_size, udp)
                     for i in range(len(coords))]) if len(coords) else coords.astype(np.float64)
