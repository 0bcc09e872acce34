"""One renderer for the synthetic scenes: an image and its label map (and, for scenes that need
it, a depth map) that every shape is drawn into together, so labels are exact by construction.

Shapes are polygons and ellipses in sub-pixel coordinates, handed to OpenCV in fixed point
(:data:`SHIFT` fractional bits). The image's dtype chooses how a shape is filled:

- ``uint8`` (the figure scenes): OpenCV's anti-aliased fill straight into the image, and the same
  shape's aliased fill into the label map. Fast; shapes are convex, colours are BGR tuples.
- ``float32`` (the street scenes): the shape's coverage is rasterised into a mask, the image is
  blended by it (times an optional texture), and the label and depth maps take the pixels at least
  half covered. Handles non-convex shapes and sub-pixel objects far away.

``pixel_centre`` is where a pixel's centre lies in the callers' coordinates: 0 when integers
are pixel centres (OpenCV's convention, the figure scenes), 0.5 when pixels span [i, i + 1)
(the street scenes' camera).
"""
from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

__all__ = ["SHIFT", "Canvas", "fixed"]

SHIFT = 4  # OpenCV sub-pixel bits: coordinates are drawn with 1/16 px precision
_ELLIPSE_POINTS = 28  # polygon vertices of an ellipse when blending


def fixed(points: Any) -> np.ndarray:
    """Sub-pixel coordinates as OpenCV's fixed-point int32 (``SHIFT`` fractional bits)."""
    return np.round(np.asarray(points, dtype=np.float64) * (1 << SHIFT)).astype(np.int32)


class Canvas:
    """An image, its label map and an optional depth map (larger = farther), drawn into together.

    ``textures`` holds named (H, W) brightness factors that shapes may be filled with (blending
    only), e.g. the street scenes' foliage.
    """

    def __init__(self, image: np.ndarray, labels: np.ndarray, depth: np.ndarray | None = None,
                 pixel_centre: float = 0.0) -> None:
        if image.dtype not in (np.uint8, np.float32):
            raise TypeError(f"canvas images are uint8 or float32, not {image.dtype}")
        self.image, self.labels, self.depth = image, labels, depth
        self.pixel_centre = pixel_centre
        self.textures: dict[str, np.ndarray] = {}

    @property
    def blends(self) -> bool:
        """Whether shapes are blended by their coverage (float images) or drawn by OpenCV (uint8)."""
        return self.image.dtype == np.float32

    def polygon(self, points: np.ndarray, colour: Any, label: int | None, depth: float | None = None,
                texture: np.ndarray | None = None) -> None:
        """Fill a polygon (convex unless the canvas blends); ``label`` None draws the image only."""
        if self.blends:
            self._blend(np.asarray(points, np.float64) - self.pixel_centre, colour, label, depth, texture)
            return
        pts = fixed(np.asarray(points, dtype=np.float64) - self.pixel_centre if self.pixel_centre else points)
        cv2.fillConvexPoly(self.image, pts, colour, cv2.LINE_AA, SHIFT)
        if label is not None:
            cv2.fillConvexPoly(self.labels, pts, int(label), cv2.LINE_8, SHIFT)

    def ellipse(self, centre: np.ndarray, axes: tuple[float, float], colour: Any, label: int | None,
                depth: float | None = None, texture: np.ndarray | None = None, angle: float = 0.0) -> None:
        """Fill an ellipse with semi-axes ``axes`` turned by ``angle`` degrees."""
        if self.blends:
            t = np.linspace(0, 2 * math.pi, _ELLIPSE_POINTS, endpoint=False)
            x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
            if angle:
                c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
                x, y = x * c - y * s, x * s + y * c
            self.polygon(np.stack([centre[0] + x, centre[1] + y], 1), colour, label, depth, texture)
            return
        c = tuple(int(v) for v in fixed(np.asarray(centre, np.float64) - self.pixel_centre))
        ax = tuple(max(1, int(v)) for v in fixed(axes))
        cv2.ellipse(self.image, c, ax, angle, 0, 360, colour, -1, cv2.LINE_AA, SHIFT)
        if label is not None:
            cv2.ellipse(self.labels, c, ax, angle, 0, 360, int(label), -1, cv2.LINE_8, SHIFT)

    def disc(self, centre: np.ndarray, radius: float, colour: Any, label: int | None) -> None:
        self.ellipse(centre, (radius, radius), colour, label)

    def capsule(self, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour: Any,
                label: int | None) -> None:
        """A segment from ``a`` to ``b`` whose half-width tapers from ``ra`` to ``rb``, round ends."""
        d = b - a
        n = np.linalg.norm(d)
        if n > 1e-6:
            normal = np.array([-d[1], d[0]]) / n
            quad = np.stack([a + normal * ra, b + normal * rb, b - normal * rb, a - normal * ra])
            self.polygon(quad, colour, label)
        self.disc(a, ra, colour, label)
        self.disc(b, rb, colour, label)

    def _blend(self, pts: np.ndarray, colour: Any, label: int | None, depth: float | None,
               texture: np.ndarray | None) -> None:
        """Coverage-blend a polygon (pixel centres on integers) into the float image."""
        h, w = self.labels.shape
        x0, y0 = (max(0, int(math.floor(v)) - 1) for v in pts.min(0))
        x1, y1 = min(w, int(math.ceil(pts[:, 0].max())) + 2), min(h, int(math.ceil(pts[:, 1].max())) + 2)
        if x0 >= x1 or y0 >= y1 or not np.isfinite(pts).all():
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.clip((pts - (x0, y0)) * (1 << SHIFT), -2**26, 2**26).round().astype(np.int32)
        cv2.fillPoly(mask, [local], 255, cv2.LINE_AA, shift=SHIFT)
        alpha = mask.astype(np.float32)[..., None] / 255.0
        fill = np.broadcast_to(np.asarray(colour, np.float32), (y1 - y0, x1 - x0, 3))
        if texture is not None:
            fill = fill * texture[y0:y1, x0:x1, None]
        roi = self.image[y0:y1, x0:x1]
        roi += alpha * (fill - roi)
        inside = mask >= 128
        if label is not None:
            self.labels[y0:y1, x0:x1][inside] = label
        if depth is not None and self.depth is not None:
            self.depth[y0:y1, x0:x1][inside] = depth
