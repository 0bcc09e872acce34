"""The heatmap targets of a whole batch at once, on the batch's device (the GPU in training).

:func:`batch_targets` equals :func:`hrseg.codecs.heatmap.encode` sample by sample (to float32
rounding, <= 1e-6): the same joint rounding ``int(x / stride + 0.5)`` (toward zero, in float64),
the Gaussian centred on it over the cells within ``floor(3 sigma)`` (the official window for the
official sigmas; the module docstring of :mod:`hrseg.codecs.heatmap` says why not for others),
clipped to the map, weight 0 for unlabelled joints and for joints whose window misses the map,
for ``unbiased`` (DARK) the Gaussian at the exact sub-pixel position over the whole map, and for
``udp`` at the exact position at UDP's stride within the window about the rounded one;
:func:`combined_targets` equals :func:`hrseg.codecs.combined.encode_combined` (UDP's disk and offset
maps) the same way. Each is
one chain of elementwise kernels over (N, K, H, W), with no host synchronisation, so it can run
inside a CUDA graph; a DataLoader worker then only decodes and warps
(``CocoPoseDataset(..., draw_targets=False)``).
"""
from __future__ import annotations

from typing import Sequence

import torch

from hrseg.codecs.combined import combined_radius
from hrseg.codecs.heatmap import udp_stride, window_radius
from hrseg.codecs.msra import HeatmapCodec


def batch_targets(joints: torch.Tensor, joints_vis: torch.Tensor, image_size: Sequence[int],
                  heatmap_size: Sequence[int], sigma: float, unbiased: bool = False,
                  joint_weights: torch.Tensor | None = None, udp: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (N, K, H, W) float32 and target weights (N, K, 1) float32 for ``joints`` (N, K, 2)
    in input-crop pixels and ``joints_vis`` (N, K) or (N, K, 1); sizes are (w, h) as
    :func:`~hrseg.codecs.heatmap.encode`'s. ``joint_weights`` (K,): the official
    ``use_different_joints_weight`` multipliers (None = off), best already on the device."""
    device = joints.device
    hm_w, hm_h = int(heatmap_size[0]), int(heatmap_size[1])
    n, k = joints.shape[:2]
    # float32 joints over a float64 stride, as the codec reads them; Python scalars only, so that
    # nothing is copied from the host (a copy from pageable memory cannot be graph-captured)
    xy = joints[..., :2].float().double()
    if udp:  # float32 joints over UDP's float32 stride, in float32 (as the codec and mmpose)
        stride_x, stride_y = (float(v) for v in udp_stride(image_size, heatmap_size))
        xy = torch.stack([xy[..., 0].float() / stride_x, xy[..., 1].float() / stride_y], -1).double()
    else:
        stride_x, stride_y = image_size[0] / heatmap_size[0], image_size[1] / heatmap_size[1]
        xy = torch.stack([xy[..., 0] / stride_x, xy[..., 1] / stride_y], -1)
    mu = xy if unbiased else torch.trunc(xy + 0.5)
    if unbiased:  # DarkPose's window test
        tmp_size = float(sigma) * 3
        ul, br = torch.trunc(mu - tmp_size), torch.trunc(mu + tmp_size + 1)
    else:
        radius = window_radius(sigma)
        ul, br = mu - radius, mu + radius + 1
    labelled = joints_vis.reshape(n, k) > 0
    inside = (ul[..., 0] < hm_w) & (ul[..., 1] < hm_h) & (br[..., 0] >= 0) & (br[..., 1] >= 0)
    weight = (labelled & inside).float()
    xs = torch.arange(hm_w, device=device, dtype=torch.float64).view(1, 1, 1, hm_w)
    ys = torch.arange(hm_h, device=device, dtype=torch.float64).view(1, 1, hm_h, 1)
    mx, my = mu[..., 0, None, None], mu[..., 1, None, None]
    if unbiased:
        target = torch.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / (2 * sigma ** 2)).float()
    else:
        if udp:  # at the exact position, in float64 as the codec's
            ex, ey = xy[..., 0, None, None], xy[..., 1, None, None]
            target = torch.exp(-((xs - ex) ** 2 + (ys - ey) ** 2) / (2 * sigma ** 2)).float()
        else:  # whole-cell offsets from mu, in float32 arithmetic as the codec's
            gx, gy = (xs - mx).float(), (ys - my).float()
            target = torch.exp(-(gx ** 2 + gy ** 2) / (2 * sigma ** 2))
        ux, uy = ul[..., 0, None, None], ul[..., 1, None, None]
        in_window = (xs >= ux) & (xs < br[..., 0, None, None]) & (ys >= uy) & (ys < br[..., 1, None, None])
        target = target * in_window
    target = target * weight[..., None, None]
    weight = weight[..., None]
    if joint_weights is not None:
        weight = weight * joint_weights.to(device=device, dtype=torch.float32).reshape(1, k, 1)
    return target, weight


def combined_targets(joints: torch.Tensor, joints_vis: torch.Tensor, image_size: Sequence[int],
                     heatmap_size: Sequence[int], joint_weights: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """UDP's combined targets (N, K * 3, H, W) and weights (N, K, 1) of a batch, as
    :func:`~hrseg.codecs.combined.encode_combined` draws them per sample; sizes are (w, h);
    ``joint_weights`` (K,) as :func:`batch_targets`'."""
    n, k = joints.shape[:2]
    w, h = int(heatmap_size[0]), int(heatmap_size[1])
    stride_x, stride_y = (float(v) for v in udp_stride(image_size, heatmap_size))
    mu = joints[..., :2].float()  # float32 over UDP's float32 stride, then float64 offsets, as the codec's
    mx, my = (mu[..., 0] / stride_x).double()[..., None, None], (mu[..., 1] / stride_y).double()[..., None, None]
    radius = combined_radius(heatmap_size)
    xs = torch.arange(w, device=joints.device, dtype=torch.float64).view(1, 1, 1, w)
    ys = torch.arange(h, device=joints.device, dtype=torch.float64).view(1, 1, h, 1)
    dx, dy = ((mx - xs) / radius).expand(n, k, h, w), ((my - ys) / radius).expand(n, k, h, w)
    weight = (joints_vis.reshape(n, k) > 0).float()
    maps = torch.stack([(dx ** 2 + dy ** 2 <= 1).double(), dx, dy], 2).float() * weight[..., None, None, None]
    weight = weight[..., None]
    if joint_weights is not None:
        weight = weight * joint_weights.to(device=joints.device, dtype=torch.float32).reshape(1, k, 1)
    return maps.reshape(n, k * 3, h, w), weight


def codec_targets(codec: HeatmapCodec, joints: torch.Tensor, joints_vis: torch.Tensor,
                  joint_weights: Sequence[float] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`batch_targets` with a codec's sizes, sigma and encoding (as
    :meth:`HeatmapCodec.encode` for each sample of the batch)."""
    weights = None
    if codec.use_different_joints_weight:
        weights = torch.as_tensor(joint_weights, dtype=torch.float32).to(joints.device)
    if codec.heatmap_type == "combined":
        return combined_targets(joints, joints_vis, codec.input_size[::-1], codec.heatmap_size[::-1], weights)
    return batch_targets(joints, joints_vis, codec.input_size[::-1], codec.heatmap_size[::-1], codec.sigma,
                         codec.unbiased, weights, codec.udp)
