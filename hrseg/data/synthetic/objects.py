"""What the figure scenes hold besides people: distractor objects of the other instance
categories (balls, boxes, signs), each one label, and the unlabelled textured backgrounds."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hrseg.data.synthetic.body import PART_BITS
from hrseg.data.synthetic.canvas import SHIFT, Canvas, fixed
from hrseg.data.synthetic.colours import Colour, jitter, random_colour, shade

__all__ = ["SceneObject", "make_background", "make_ball", "make_box", "make_sign"]

@dataclass
class SceneObject:
    """A ball, box or sign: convex polygons and ellipses drawn in order, one label."""

    category_id: int
    depth: float
    shapes: list[tuple[str, Any, Colour]]  # ("poly", points) or ("ellipse", (centre, axes, angle))

    def box(self) -> tuple[float, float, float, float]:
        pts = []
        for kind, geom, _ in self.shapes:
            if kind == "poly":
                pts.append(np.asarray(geom))
            else:
                c, (a, b), _ = geom
                pts.append(np.array([c - max(a, b), c + max(a, b)]))
        allp = np.concatenate(pts)
        return (*allp.min(0), *allp.max(0))  # type: ignore[return-value]

    def draw(self, canvas: Canvas, entity: int) -> None:
        label = entity << PART_BITS
        for kind, geom, colour in self.shapes:
            if kind == "poly":
                canvas.polygon(np.asarray(geom), colour, label)
            else:
                canvas.ellipse(geom[0], geom[1], colour, label, angle=geom[2])


def _regular_polygon(centre: np.ndarray, radius: float, sides: int, phase: float) -> np.ndarray:
    a = phase + 2 * math.pi * np.arange(sides) / sides
    return centre + radius * np.stack([np.cos(a), np.sin(a)], 1)


def make_ball(rng: np.random.Generator, centre: np.ndarray, radius: float,
              depth: float) -> SceneObject:
    colour = random_colour(rng, s=(0.5, 1.0), v=(0.6, 1.0))
    shapes: list[tuple[str, Any, Colour]] = [
        ("ellipse", (centre, (radius + 0.8, radius + 0.8), 0.0), shade(colour, 0.5)),
        ("ellipse", (centre, (radius, radius), 0.0), colour)]
    if rng.random() < 0.6:  # a seam band
        band = (centre, (radius * 0.95, radius * 0.22), float(rng.uniform(0, 180)))
        shapes.append(("ellipse", band, shade(colour, 0.65)))
    shapes.append(("ellipse", (centre - radius * 0.35, (radius * 0.3, radius * 0.3), 0.0),
                   shade(colour, 1.35)))
    return SceneObject(2, depth, shapes)


def make_box(rng: np.random.Generator, centre: np.ndarray, size: float,
             depth: float) -> SceneObject:
    """A cuboid seen slightly from above: front, top and side faces."""
    w, h = size, size * rng.uniform(0.6, 1.3)
    a = math.radians(rng.uniform(-12, 12))
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    front = centre + np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ rot.T
    off = np.array([0.3, -0.35]) * size * rng.uniform(0.3, 0.6) @ rot.T
    colour = jitter(rng, (60, 120, 170), 25) if rng.random() < 0.5 else random_colour(rng)
    tape = centre + np.array([[-0.08 * w, -h / 2], [0.08 * w, -h / 2], [0.08 * w, h / 2],
                              [-0.08 * w, h / 2]]) @ rot.T
    top = [front[0], front[1], front[1] + off, front[0] + off]
    side = [front[1], front[1] + off, front[2] + off, front[2]]
    return SceneObject(3, depth, [("poly", front, colour), ("poly", top, shade(colour, 1.3)),
                                  ("poly", side, shade(colour, 0.7)),
                                  ("poly", tape, shade(colour, 1.15))])


_SIGN_STYLES: tuple[tuple[int, float, Colour], ...] = (  # sides, phase, BGR colour
    (8, math.pi / 8, (40, 40, 200)), (3, -math.pi / 2, (40, 210, 240)),
    (40, 0.0, (190, 90, 30)), (4, 0.0, (30, 160, 240)), (4, math.pi / 4, (60, 150, 40)),
)


def make_sign(rng: np.random.Generator, base: np.ndarray, height: float, plate: float,
              depth: float) -> SceneObject:
    """A pole with a plate on top (octagon, triangle, disc, diamond or square)."""
    top = base - np.array([0.0, height])
    pw = max(1.5, 0.12 * plate)
    pole = [base + (-pw, 0), base + (pw, 0), top + (pw, 0), top + (-pw, 0)]
    sides, phase, colour = _SIGN_STYLES[rng.integers(len(_SIGN_STYLES))]
    grey, white = jitter(rng, (150, 150, 150), 15), (235, 235, 235)
    bar = top + np.array([[-0.5, -0.1], [0.5, -0.1], [0.5, 0.1], [-0.5, 0.1]]) * plate
    return SceneObject(4, depth, [
        ("poly", pole, grey), ("poly", _regular_polygon(top, plate + 1.2, sides, phase), white),
        ("poly", _regular_polygon(top, plate, sides, phase), jitter(rng, colour, 10)),
        ("poly", bar, white)])


def make_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A textured background: gradient, smooth noise, maybe stripes, ground and blurred shapes."""
    h, w = size
    xx, yy = np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]
    a = rng.uniform(0, 2 * math.pi)
    ramp = xx * math.cos(a) + yy * math.sin(a)
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    c0, c1 = (np.array(random_colour(rng, s=(0.0, 0.6), v=(0.2, 0.95)), np.float32)
              for _ in range(2))
    img = c0 + ramp[..., None] * (c1 - c0)
    cells = (int(rng.integers(3, 12)), int(rng.integers(3, 12)), 3)
    grid = rng.uniform(-1, 1, cells).astype(np.float32)
    img += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) * np.float32(rng.uniform(10, 45))
    if rng.random() < 0.4:
        b, period = rng.uniform(0, math.pi), rng.uniform(6, 40)
        stripes = np.sin((xx * math.cos(b) + yy * math.sin(b)) * np.float32(2 * math.pi / period))
        img += stripes[..., None] * np.float32(rng.uniform(8, 30))
    if rng.random() < 0.5:  # a ground plane below a horizon
        horizon = int(rng.uniform(0.35, 0.75) * h)
        ground = np.array(random_colour(rng, s=(0.1, 0.6), v=(0.2, 0.8)), np.float32)
        img[horizon:] = img[horizon:] * 0.4 + ground * 0.6
    img = np.clip(img, 0, 255).astype(np.uint8)
    _background_shapes(rng, img)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 2.5))


def _background_shapes(rng: np.random.Generator, img: np.ndarray) -> None:
    """Large, faint, unlabelled clutter (bigger and blurrier than any labelled object)."""
    h, w = img.shape[:2]
    layer = img.copy()
    for _ in range(int(rng.integers(0, 7))):
        c = rng.uniform(0, 1, 2) * (w, h)
        if rng.random() < 0.5:
            pts = c + rng.uniform(-0.4, 0.4, (int(rng.integers(3, 6)), 2)) * (w, h)
            cv2.fillConvexPoly(layer, fixed(cv2.convexHull(pts.astype(np.float32))[:, 0, :]),
                               random_colour(rng), cv2.LINE_AA, SHIFT)
        else:
            end = c + rng.uniform(-0.6, 0.6, 2) * (w, h)
            ends = [tuple(int(v) for v in q) for q in (c, end)]
            cv2.line(layer, *ends, random_colour(rng), int(rng.integers(2, 8)), cv2.LINE_AA)
    alpha = rng.uniform(0.2, 0.5)
    img[:] = cv2.addWeighted(layer, alpha, img, 1.0 - alpha, 0.0)
