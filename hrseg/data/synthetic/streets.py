"""Synthetic street scenes in the Cityscapes layout, for segmentation training and CI without
the real dataset.

A scene is a street seen from a car: a pinhole camera at 1.2-1.6 m looks down a straight street.
The static scene is ray-cast per pixel against four planes (the ground, the two facade planes,
an optional wall closing the street), so road, lane markings, sidewalk tiles, facades, windows
and hedges are in correct perspective and converge to the vanishing point; the sky fills what no
ray hits. Objects standing on the ground (trees, street lights, traffic signs, cars as 3D boxes,
people, bins) are then drawn far to near at the size their depth gives. Each shape goes into
the image (anti-aliased) and with its Cityscapes labelId into the label map, so labels are exact.

Classes are learnable from position, shape and texture, not from one colour: colours of road,
sidewalk, facades, cars and clothes are random and overlap, the sky may be blue, grey or orange,
and light, haze, shadows, noise and blur vary per image.

Labels are real Cityscapes labelIds: road 7, sidewalk 8, building 11, pole 17, traffic sign 20,
vegetation 21, sky 23, person 24, car 26, and 0 (unlabeled) for the few bins and boxes.

Output layout under ``root`` (loads with :class:`hrseg.data.seg.datasets.CityscapesDataset`)::

    leftImg8bit/{train,val}/synth/synth_000000_<index>_leftImg8bit.png
    gtFine/{train,val}/synth/synth_000000_<index>_gtFine_labelIds.png
    COMPLETE.json      written last: the config

Images are independent of each other (seeded by seed, split and index) and byte-identical for
the same arguments.
"""
from __future__ import annotations

import argparse
import colorsys
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from hrseg.errors import ConfigError
from hrseg.utils.image_io import write_image
from hrseg.utils.io import write_json

UNLABELED, ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR = 0, 7, 8, 11, 17, 20, 21, 23, 24, 26
SPLITS = ("train", "val")
CITY = "synth"
MARKER_NAME = "COMPLETE.json"
FORMAT_VERSION = 1
_FAR = 1e4  # metres: "infinitely" far

Colour = np.ndarray  # RGB float (3,), 0..255


# ---------------------------------------------------------------------------------------------
# Small helpers: colours, noise, box-filtered stripes
# ---------------------------------------------------------------------------------------------

def _hsv(h: float, s: float, v: float) -> Colour:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) * 255.0


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, unit-std noise with features about ``cell`` pixels large."""
    h, w = shape
    small = rng.standard_normal((int(h / cell) + 3, int(w / cell) + 3)).astype(np.float32)
    big = cv2.resize(small, (w + 2 * int(cell), h + 2 * int(cell)), interpolation=cv2.INTER_CUBIC)
    out = big[int(cell):int(cell) + h, int(cell):int(cell) + w]
    return (out - out.mean()) / (out.std() + 1e-6)


def _stripes(u: np.ndarray, footprint: np.ndarray, period: float, duty: float, phase: float = 0.0) -> np.ndarray:
    """Fraction of the pixel footprint ``[u - fp/2, u + fp/2]`` covered by bars
    ``[k * period + phase, k * period + phase + duty * period)``: an exactly box-filtered
    stripe pattern, so distant windows, tiles and dashes blend instead of aliasing."""
    bar = duty * period

    def integral(t: np.ndarray) -> np.ndarray:
        t = t - phase
        q = np.floor(t / period)
        return q * bar + np.minimum(t - q * period, bar)

    fp = np.maximum(footprint, 1e-6)
    return (integral(u + fp / 2) - integral(u - fp / 2)) / fp


def _band(u: np.ndarray, footprint: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fraction of the pixel footprint inside ``[lo, hi]`` (one box-filtered bar)."""
    fp = np.maximum(footprint, 1e-6)
    return np.clip((np.minimum(u + fp / 2, hi) - np.maximum(u - fp / 2, lo)) / fp, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Camera and canvas
# ---------------------------------------------------------------------------------------------

@dataclass
class Camera:
    """Pinhole at height ``height`` looking along +Z; X right, Y up, ground at Y = 0."""

    f: float
    cx: float  # vanishing point x (pixels)
    cy: float  # horizon y (pixels)
    height: float

    def project(self, x: Any, y: Any, z: Any) -> np.ndarray:
        """Image (x, y) of 3D points (continuous pixel coordinates, pixel centres at +0.5)."""
        x, y, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, y, z)))
        return np.stack([self.cx + self.f * x / z, self.cy + self.f * (self.height - y) / z], -1)


class Canvas:
    """The image (float RGB), its labelIds and a depth buffer, drawn into together."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.image = np.zeros((*shape, 3), np.float32)
        self.label = np.zeros(shape, np.uint8)
        self.depth = np.full(shape, _FAR, np.float32)
        self.leaves = np.ones(shape, np.float32)  # foliage texture (a brightness factor) of the scene

    def polygon(self, pts: np.ndarray, colour: Colour, label: int, depth: float,
                texture: np.ndarray | None = None) -> None:
        """Fill a polygon (image coordinates), anti-aliased in the image; the label takes the
        pixels at least half covered. ``texture`` (H, W) multiplies the colour."""
        pts = np.asarray(pts, np.float64) - 0.5  # OpenCV puts pixel centres on integers
        h, w = self.label.shape
        x0, y0 = (max(0, int(math.floor(v)) - 1) for v in pts.min(0))
        x1, y1 = min(w, int(math.ceil(pts[:, 0].max())) + 2), min(h, int(math.ceil(pts[:, 1].max())) + 2)
        if x0 >= x1 or y0 >= y1 or not np.isfinite(pts).all():
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.clip((pts - (x0, y0)) * 16, -2**26, 2**26).round().astype(np.int32)
        cv2.fillPoly(mask, [local], 255, cv2.LINE_AA, shift=4)
        alpha = mask.astype(np.float32)[..., None] / 255.0
        fill = np.broadcast_to(np.asarray(colour, np.float32), (y1 - y0, x1 - x0, 3))
        if texture is not None:
            fill = fill * texture[y0:y1, x0:x1, None]
        roi = self.image[y0:y1, x0:x1]
        roi += alpha * (fill - roi)
        inside = mask >= 128
        self.label[y0:y1, x0:x1][inside] = label
        self.depth[y0:y1, x0:x1][inside] = depth

    def ellipse(self, centre: np.ndarray, axes: tuple[float, float], colour: Colour, label: int,
                depth: float, texture: np.ndarray | None = None) -> None:
        t = np.linspace(0, 2 * math.pi, 28, endpoint=False)
        pts = np.stack([centre[0] + axes[0] * np.cos(t), centre[1] + axes[1] * np.sin(t)], 1)
        self.polygon(pts, colour, label, depth, texture)


# ---------------------------------------------------------------------------------------------
# The static street: ground, facades, end wall, sky (ray-cast per pixel)
# ---------------------------------------------------------------------------------------------

_FACADE_HUES = ((0.08, 0.12, 0.35, 0.9), (0.0, 0.06, 0.35, 0.75), (0.10, 0.16, 0.1, 0.6),
                (0.0, 1.0, 0.0, 0.12), (0.5, 0.7, 0.05, 0.3))  # (hue lo, hi, sat lo, hi)


@dataclass
class Segment:
    """A stretch of facade along the street: a building (with windows) or a hedge/park."""

    z0: float
    z1: float
    kind: str  # "building" or "vegetation"
    height: float
    colour: Colour
    floor: float = 3.0
    win_w: float = 1.2
    win_period: float = 3.0
    win_phase: float = 0.0
    glass: Colour | None = None
    shop: bool = False


def _facade_colour(rng: np.random.Generator) -> Colour:
    hlo, hhi, slo, shi = _FACADE_HUES[int(rng.integers(len(_FACADE_HUES)))]
    return _hsv(rng.uniform(hlo, hhi), rng.uniform(slo, shi), rng.uniform(0.35, 0.95))


def _leaf_colour(rng: np.random.Generator) -> Colour:
    return _hsv(rng.uniform(0.17, 0.33), rng.uniform(0.35, 0.8), rng.uniform(0.25, 0.6))


def _segments(rng: np.random.Generator, vegetation_p: float) -> list[Segment]:
    segs, z = [], 0.0
    while z < 600.0:
        length = rng.uniform(8.0, 30.0)
        if rng.random() < vegetation_p:
            segs.append(Segment(z, z + length, "vegetation", rng.uniform(2.0, 9.0), _leaf_colour(rng)))
        else:
            segs.append(Segment(z, z + length, "building", rng.uniform(7.0, 26.0), _facade_colour(rng),
                                floor=rng.uniform(2.8, 3.6), win_w=rng.uniform(0.7, 1.6),
                                win_period=rng.uniform(2.0, 4.0), win_phase=rng.uniform(0, 4),
                                glass=_hsv(rng.uniform(0.5, 0.65), rng.uniform(0.05, 0.4), rng.uniform(0.1, 0.45)),
                                shop=bool(rng.random() < 0.5)))
        z += length
    return segs


@dataclass
class Street:
    cam: Camera
    curb_l: float  # X of the left curb (negative)
    curb_r: float
    wall_l: float  # X of the left facade plane
    wall_r: float
    end_z: float | None  # a wall closing the street, or open
    end_height: float
    left: list[Segment]
    right: list[Segment]
    end: Segment
    sunny: bool
    shadow_left: bool


def _sample_street(rng: np.random.Generator, shape: tuple[int, int]) -> Street:
    h, w = shape
    cam = Camera(f=w * rng.uniform(0.85, 1.2), cx=w * rng.uniform(0.38, 0.62), cy=h * rng.uniform(0.36, 0.5),
                 height=rng.uniform(1.2, 1.6))
    width = rng.uniform(6.0, 13.0)
    offset = rng.uniform(0.25, 0.75) * width
    curb_l, curb_r = -offset, width - offset
    walk_l, walk_r = rng.uniform(2.0, 5.0), rng.uniform(2.0, 5.0)
    veg_p = rng.uniform(0.0, 0.35)
    end = _segments(rng, 0.0)[0]
    return Street(cam, curb_l, curb_r, curb_l - walk_l, curb_r + walk_r,
                  end_z=rng.uniform(50, 220) if rng.random() < 0.6 else None, end_height=rng.uniform(8, 30),
                  left=_segments(rng, veg_p), right=_segments(rng, veg_p), end=end,
                  sunny=bool(rng.random() < 0.6), shadow_left=bool(rng.random() < 0.5))


def _segment_index(segs: list[Segment], z: np.ndarray) -> np.ndarray:
    """Which segment each depth along the facade falls in."""
    starts = np.array([s.z0 for s in segs])
    return np.clip(np.searchsorted(starts, z, side="right") - 1, 0, len(segs) - 1)


def _vegetation_top(seg_index: np.ndarray, u: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """A bumpy hedge/tree-line top: the height varies along the facade."""
    return heights * (0.8 + 0.12 * np.sin(u * 1.3 + seg_index) + 0.08 * np.sin(u * 3.1 + 2 * seg_index))


def _wall_hit(street: Street, dx: np.ndarray, dy: np.ndarray, wall_x: float,
              segs: list[Segment]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth of the hit on a facade plane (inf where missed), its height Y and segment index."""
    cam = street.cam
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(dx * wall_x > 0, wall_x / dx, np.inf)
    finite = np.isfinite(z)
    zf = np.where(finite, z, 0.0)
    y = np.where(finite, cam.height + dy * zf, -1.0)
    idx = _segment_index(segs, zf)
    heights = np.array([s.height for s in segs])[idx]
    veg = np.array([s.kind == "vegetation" for s in segs])[idx]
    top = np.where(veg, _vegetation_top(idx, zf, heights), heights)
    hit = finite & (y >= 0) & (y <= top)
    return np.where(hit, z, np.inf), y, idx


def _facade_texture(u: np.ndarray, v: np.ndarray, fu: np.ndarray, fv: np.ndarray,
                    idx: np.ndarray, segs: list[Segment], leaves: np.ndarray, stains: np.ndarray) -> np.ndarray:
    """Colours of facade pixels: walls with floors of windows (and shop fronts), or foliage."""
    colour = np.stack([s.colour for s in segs])[idx]
    glass = np.stack([s.glass if s.glass is not None else s.colour for s in segs])[idx]
    floor = np.array([s.floor for s in segs])[idx]
    period = np.array([s.win_period for s in segs])[idx]
    win_w = np.array([s.win_w for s in segs])[idx]
    phase = np.array([s.win_phase for s in segs])[idx]
    shop = np.array([s.shop for s in segs])[idx]
    veg = np.array([s.kind == "vegetation" for s in segs])[idx]
    height = np.array([s.height for s in segs])[idx]
    # windows: box-filtered in both directions; the ground floor has wide shop windows or none
    cols = _stripes(u - phase, fu, period, np.clip(win_w / period, 0.1, 0.8))
    rows = _stripes(v - 0.9, fv, floor, np.clip(1.5 / floor, 0.2, 0.8))
    upper = _band(v, fv, floor, height - 0.8)
    ground = _band(v, fv, 0.4, floor - 0.5) * np.where(shop, _stripes(u - phase, fu, 6.0, 0.75), 0.0)
    win = np.clip(cols * rows * upper + ground, 0, 1)
    ledges = 0.12 * _stripes(v, fv, floor, 0.06) + 0.2 * _band(v, fv, height - 0.5, height)
    wall = colour * (1.0 - ledges[..., None] + 0.05 * stains[..., None])
    reflect = glass * (1.0 + 0.35 * np.clip(v / np.maximum(height, 1), 0, 1))[..., None]
    out = wall * (1 - win[..., None]) + reflect * win[..., None]
    foliage = colour * leaves[..., None] * (0.7 + 0.3 * np.clip(v / 3.0, 0, 1))[..., None]
    return np.where(veg[..., None], foliage, out)


def _ground_texture(rng: np.random.Generator, street: Street, x: np.ndarray, z: np.ndarray, fx: np.ndarray,
                    fz: np.ndarray, grain: np.ndarray, stains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colours and labels of ground pixels: asphalt with markings, curbs, tiled sidewalks."""
    asphalt = np.full(3, rng.uniform(55, 135)) * rng.uniform(0.93, 1.07, 3)
    road = asphalt * (1 + 0.05 * stains[..., None] + 0.04 * grain[..., None])
    paint = _hsv(rng.uniform(0.12, 0.16), rng.uniform(0, 0.7) * (rng.random() < 0.3), rng.uniform(0.75, 0.95))
    centre = (street.curb_l + street.curb_r) / 2 + rng.uniform(-0.5, 0.5)
    dash = _band(x, fx, centre - 0.07, centre + 0.07) * _stripes(z, fz, rng.uniform(6, 12), rng.uniform(0.3, 0.5),
                                                                rng.uniform(0, 10))
    edges = sum(_band(x, fx, c - 0.06, c + 0.06) for c in (street.curb_l + 0.35, street.curb_r - 0.35))
    marks = np.clip(dash + edges * (rng.random() < 0.7), 0, 1)
    if rng.random() < 0.3:  # a zebra crossing
        z0 = rng.uniform(8, 30)
        marks = np.maximum(marks, _band(z, fz, z0, z0 + 3.5) * _stripes(x, fx, 1.0, 0.5))
    road = road * (1 - marks[..., None]) + paint * marks[..., None] * (1 + 0.05 * grain[..., None])
    pave = _facade_colour(rng) if rng.random() < 0.4 else np.full(3, rng.uniform(110, 200))
    tile = rng.uniform(0.3, 0.7)
    joints = 1 - (1 - _stripes(x, fx, tile, 0.1)) * (1 - _stripes(z, fz, tile * rng.uniform(1, 2), 0.1))
    walk = pave * (1 - 0.25 * joints[..., None] + 0.06 * grain[..., None] + 0.05 * stains[..., None])
    curb_col = np.full(3, rng.uniform(140, 210))
    curb = _band(x, fx, street.curb_l - 0.25, street.curb_l) + _band(x, fx, street.curb_r, street.curb_r + 0.25)
    walk = walk * (1 - curb[..., None]) + curb_col * curb[..., None]
    on_road = (x >= street.curb_l) & (x <= street.curb_r)
    return np.where(on_road[..., None], road, walk), np.where(on_road, ROAD, SIDEWALK).astype(np.uint8)


def _sky(rng: np.random.Generator, shape: tuple[int, int], horizon: float) -> tuple[np.ndarray, Colour]:
    """A sky image (clear, overcast or dusk, with clouds) and its colour at the horizon."""
    h, w = shape
    kind = rng.choice(["clear", "overcast", "dusk"], p=[0.55, 0.3, 0.15])
    if kind == "clear":
        top = _hsv(rng.uniform(0.55, 0.62), rng.uniform(0.4, 0.75), rng.uniform(0.6, 0.9))
        low = top + (255 - top) * rng.uniform(0.3, 0.7)
    elif kind == "overcast":
        top = np.full(3, rng.uniform(150, 225)) * rng.uniform(0.95, 1.05, 3)
        low = top * rng.uniform(1.0, 1.12)
    else:
        top, low = _hsv(rng.uniform(0.58, 0.7), 0.45, rng.uniform(0.4, 0.7)), _hsv(rng.uniform(0.02, 0.1), 0.55, 0.95)
    t = np.clip(np.arange(h, dtype=np.float32) / max(horizon, 1.0), 0, 1)[:, None, None]
    sky = np.broadcast_to(top * (1 - t) + low * t, (h, w, 3)).astype(np.float32)
    clouds = np.clip(_smooth_noise(rng, shape, w / rng.uniform(3, 8)) * 0.6 - rng.uniform(-0.2, 0.8), 0, 1)
    sky = sky + (np.float32(min(255, low.max() + 20)) - sky) * (clouds * rng.uniform(0.3, 0.8))[..., None]
    return np.clip(sky, 0, 255), np.clip(low, 0, 255)


def render_background(rng: np.random.Generator, street: Street, canvas: Canvas) -> Colour:
    """Ray-cast the static street into the canvas; returns the haze colour."""
    h, w = canvas.label.shape
    cam = street.cam
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    dx, dy = (xs - cam.cx) / cam.f, (cam.cy - ys) / cam.f  # ray (dx, dy, 1) from the camera
    with np.errstate(divide="ignore"):
        z_ground = np.where(dy < 0, cam.height / -np.minimum(dy, -1e-12), np.inf)
    z_left, yl, il = _wall_hit(street, dx, dy, street.wall_l, street.left)
    z_right, yr, ir = _wall_hit(street, dx, dy, street.wall_r, street.right)
    z_end = np.full((h, w), np.inf)
    if street.end_z is not None:
        xe, ye = dx * street.end_z, cam.height + dy * street.end_z
        z_end = np.where((xe >= street.wall_l) & (xe <= street.wall_r) & (ye >= 0) & (ye <= street.end_height),
                         street.end_z, np.inf)
    z_all = np.stack([z_ground, z_left, z_right, z_end])
    which = np.argmin(z_all, 0)
    z = np.minimum(z_all.min(0), _FAR)
    hit = np.isfinite(z_all.min(0))

    grain = rng.standard_normal((h, w)).astype(np.float32)
    stains = _smooth_noise(rng, (h, w), max(3.0, w / 40))
    canvas.leaves = (0.8 + 0.35 * np.clip(_smooth_noise(rng, (h, w), 1.3) * 0.7 + 0.6 * grain, -1.5, 1.5) / 1.5)
    leaves = canvas.leaves
    pix = z / cam.f  # metres per pixel across the ray at that depth
    sky, haze = _sky(rng, (h, w), cam.cy)
    out = sky.astype(np.float64)
    label = np.full((h, w), SKY, np.uint8)

    # textures are computed for the pixels of each surface only
    ground = (which == 0) & hit
    gz, gp = z[ground], pix[ground]
    gx = dx[ground] * gz
    g_col, out_label = _ground_texture(rng, street, gx, gz, gp, gp * gz / cam.height, grain[ground], stains[ground])
    if street.sunny:  # a cast shadow along one side of the street
        edge = (street.wall_l if street.shadow_left else street.wall_r) * rng.uniform(0.0, 0.8)
        shade = (gx < edge) if street.shadow_left else (gx > edge)
        g_col = g_col * np.where(shade, rng.uniform(0.5, 0.75), 1.0)[..., None]
    out[ground], label[ground] = g_col, out_label

    for k, wall_x, yy, idx, segs in ((1, street.wall_l, yl, il, street.left), (2, street.wall_r, yr, ir, street.right)):
        sel = (which == k) & hit
        zs, ps = z[sel], pix[sel]
        col = _facade_texture(zs, yy[sel], ps * zs / abs(wall_x), ps, idx[sel], segs, leaves[sel], stains[sel])
        dark = street.sunny and (street.shadow_left == (k == 1))
        out[sel] = col * (rng.uniform(0.55, 0.75) if dark else rng.uniform(0.9, 1.1))
        veg = np.array([s.kind == "vegetation" for s in segs])[idx[sel]]
        label[sel] = np.where(veg, VEGETATION, BUILDING)
    sel = (which == 3) & hit
    if sel.any():
        zs, ps = z[sel], pix[sel]
        col = _facade_texture(dx[sel] * zs, cam.height + dy[sel] * zs, ps, ps, np.zeros(len(zs), np.int64),
                              [street.end], leaves[sel], stains[sel])
        out[sel], label[sel] = col, BUILDING
    canvas.image[:] = np.clip(out, 0, 255)
    canvas.label[:] = label
    canvas.depth[:] = np.where(hit, z, _FAR)
    return haze


# ---------------------------------------------------------------------------------------------
# Objects on the ground
# ---------------------------------------------------------------------------------------------

def _quad(cam: Camera, x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    """A rectangle facing the camera at depth z."""
    return cam.project([x0, x1, x1, x0], [y0, y0, y1, y1], z)


def draw_tree(canvas: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float) -> None:
    """A street tree: trunk and a crown of overlapping leafy ellipses (all vegetation)."""
    trunk_h = rng.uniform(1.8, 3.2)
    bark = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.4))
    canvas.polygon(_quad(cam, x - 0.14, x + 0.14, 0, trunk_h + 0.5, z), bark, VEGETATION, z)
    colour = _leaf_colour(rng)
    radius = rng.uniform(1.2, 2.6)
    for _ in range(int(rng.integers(4, 9))):
        cx, cy = x + rng.normal(0, radius * 0.5), trunk_h + radius + rng.normal(0, radius * 0.4)
        r = radius * rng.uniform(0.5, 0.9)
        centre = cam.project(cx, cy, z)
        shade = rng.uniform(0.75, 1.15)
        canvas.ellipse(centre, (cam.f * r / z, cam.f * r * rng.uniform(0.8, 1.1) / z), colour * shade,
                       VEGETATION, z, texture=canvas.leaves)


def draw_pole(canvas: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float, toward: float) -> None:
    """A street light: shaded mast with an arm and lamp reaching over the road."""
    height, r = rng.uniform(5.0, 8.5), rng.uniform(0.1, 0.16)
    colour = np.full(3, rng.uniform(60, 170)) * rng.uniform(0.9, 1.1, 3)
    canvas.polygon(_quad(cam, x - r, x, 0, height, z), colour * 1.15, POLE, z)
    canvas.polygon(_quad(cam, x, x + r, 0, height, z), colour * 0.8, POLE, z)
    reach = toward * rng.uniform(1.0, 2.5)
    arm = cam.project([x, x + reach, x + reach, x], [height - 0.12, height, height - 0.15, height - 0.27], z)
    canvas.polygon(arm, colour, POLE, z)
    canvas.polygon(_quad(cam, x + reach - 0.3 * np.sign(reach), x + reach + 0.2 * np.sign(reach),
                         height - 0.35, height - 0.05, z), colour * 0.7, POLE, z)


_SIGNS = ("prohibit", "warning", "info", "priority")


def draw_sign(canvas: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float) -> None:
    """A traffic sign on its own post (the post is pole, the plate is traffic sign)."""
    top, size = rng.uniform(2.2, 3.0), rng.uniform(0.55, 0.9)
    grey = np.full(3, rng.uniform(90, 170))
    canvas.polygon(_quad(cam, x - 0.06, x + 0.06, 0, top, z), grey, POLE, z)
    c = cam.project(x, top + size / 2, z)
    s = cam.f * size / 2 / z
    kind = _SIGNS[int(rng.integers(len(_SIGNS)))]
    red, white, blue, yellow = (np.array(v, float) for v in ((200, 30, 35), (235, 235, 230), (30, 70, 170), (240, 200, 30)))
    if kind == "prohibit":
        canvas.ellipse(c, (s, s), red, SIGN, z)
        canvas.ellipse(c, (s * 0.72, s * 0.72), white if rng.random() < 0.6 else blue, SIGN, z)
    elif kind == "warning":
        tri = lambda k: c + k * s * np.array([[0, -1.0], [0.95, 0.75], [-0.95, 0.75]])  # noqa: E731
        canvas.polygon(tri(1.0), red, SIGN, z)
        canvas.polygon(tri(0.6), white, SIGN, z)
    elif kind == "info":
        canvas.polygon(c + s * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1.0]]), blue, SIGN, z)
        canvas.polygon(c + s * np.array([[-0.2, -0.6], [0.2, -0.6], [0.2, 0.6], [-0.2, 0.6]]), white, SIGN, z)
    else:
        canvas.polygon(c + s * np.array([[0, -1.0], [1, 0], [0, 1], [-1, 0]]), white, SIGN, z)
        canvas.polygon(c + 0.7 * s * np.array([[0, -1.0], [1, 0], [0, 1], [-1, 0]]), yellow, SIGN, z)


def _box_faces(cam: Camera, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> list[tuple[str, np.ndarray]]:
    """Visible faces of an axis-aligned box beyond the camera, drawn in this order."""
    faces = []
    if x1 < 0:  # left of the camera: its right side shows
        faces.append(("side", cam.project([x1, x1, x1, x1], [y0, y0, y1, y1], [z0, z1, z1, z0])))
    elif x0 > 0:
        faces.append(("side", cam.project([x0, x0, x0, x0], [y0, y0, y1, y1], [z0, z1, z1, z0])))
    if y1 < cam.height:
        faces.append(("top", cam.project([x0, x1, x1, x0], [y1] * 4, [z0, z0, z1, z1])))
    faces.append(("back", _quad(cam, x0, x1, y0, y1, z0)))
    return faces


def draw_car(canvas: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float, facing_away: bool) -> None:
    """A car as two boxes (body, cabin) with wheels, windows, lights and a plate."""
    w, length, height = rng.uniform(1.6, 1.9), rng.uniform(3.8, 4.8), rng.uniform(1.35, 1.6)
    u = rng.random()
    paint = (np.full(3, rng.uniform(20, 235)) if u < 0.5 else _hsv(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9)))
    glass = np.full(3, rng.uniform(25, 70)) * np.array([0.9, 0.95, 1.05])
    tyre = np.full(3, rng.uniform(15, 35))
    x0, x1 = x - w / 2, x + w / 2
    shade = {"side": 0.75, "top": 1.1, "back": 0.95}
    # shadow/underbody strip and wheels first, the body over them
    canvas.polygon(_quad(cam, x0 + 0.05, x1 - 0.05, 0.0, 0.35, z), tyre, CAR, z)
    side_x = x1 if x1 < 0 else x0 if x0 > 0 else None
    if side_x is not None:
        for az in (z + 0.8, z + length - 0.8):
            t = np.linspace(0, 2 * math.pi, 16, endpoint=False)
            canvas.polygon(cam.project(side_x, 0.32 + 0.32 * np.sin(t), az + 0.32 * np.cos(t)), tyre, CAR, az)
    for name, pts in _box_faces(cam, x0, x1, 0.3, 0.95, z, z + length):
        canvas.polygon(pts, paint * shade[name], CAR, z)
    inset = 0.12
    cz0, cz1 = z + (0.6 if facing_away else 1.0), z + length - (1.0 if facing_away else 0.6)
    for name, pts in _box_faces(cam, x0 + inset, x1 - inset, 0.95, height, cz0, cz1):
        canvas.polygon(pts, (paint if name == "top" else glass) * shade[name], CAR, cz0)
    lamp = np.array([200, 25, 20.0]) if facing_away else np.array([240, 240, 225.0])
    for lx in (x0 + 0.1, x1 - 0.35):
        canvas.polygon(_quad(cam, lx, lx + 0.25, 0.7, 0.85, z), lamp, CAR, z)
    canvas.polygon(_quad(cam, x - 0.26, x + 0.26, 0.4, 0.52, z), np.array([235, 235, 235.0]), CAR, z)


_SKIN = ((240, 200, 170), (220, 170, 130), (190, 140, 100), (140, 95, 60), (90, 60, 40))


def draw_person(canvas: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float) -> None:
    """A pedestrian seen from the front or back: legs, torso, arms, head."""
    h = rng.uniform(1.55, 1.95)
    skin = np.array(_SKIN[int(rng.integers(len(_SKIN)))], float)
    shirt = _hsv(rng.random(), rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.95))
    pants = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.1, 0.6))
    hair = _hsv(rng.uniform(0.03, 0.1), rng.uniform(0.2, 0.7), rng.uniform(0.05, 0.5))
    stride = rng.uniform(0.0, 0.22)
    p = lambda dx, y: cam.project(x + dx, y, z)  # noqa: E731
    hip, shoulder = 0.5 * h, 0.81 * h
    for side in (-1, 1):
        foot = side * (0.1 + stride)
        canvas.polygon(np.stack([p(side * 0.02, hip), p(side * 0.16, hip), p(foot + side * 0.07, 0),
                                 p(foot - side * 0.06, 0)]), pants, PERSON, z)
    canvas.polygon(np.stack([p(-0.16, hip - 0.05), p(0.16, hip - 0.05), p(0.21, shoulder), p(-0.21, shoulder)]),
                   shirt, PERSON, z)
    for side in (-1, 1):
        swing = side * rng.uniform(0.0, 0.12)
        canvas.polygon(np.stack([p(side * 0.17, shoulder), p(side * 0.25, shoulder - 0.02),
                                 p(side * 0.25 + swing, hip - 0.02), p(side * 0.18 + swing, hip - 0.02)]),
                       shirt * 0.85, PERSON, z)
        canvas.ellipse(p(side * 0.215 + swing, hip - 0.06), (cam.f * 0.045 / z, cam.f * 0.06 / z), skin, PERSON, z)
    head_r = 0.11 * h / 1.75
    canvas.polygon(np.stack([p(-0.05, shoulder - 0.02), p(0.05, shoulder - 0.02), p(0.05, shoulder + 0.08),
                             p(-0.05, shoulder + 0.08)]), skin, PERSON, z)
    centre = p(0, shoulder + 0.06 + head_r)
    canvas.ellipse(centre, (cam.f * head_r * 0.85 / z, cam.f * head_r / z), skin, PERSON, z)
    canvas.ellipse(centre - (0, cam.f * head_r * 0.35 / z), (cam.f * head_r * 0.9 / z, cam.f * head_r * 0.7 / z),
                   hair, PERSON, z)


def draw_bin(canvas: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float) -> None:
    """Street clutter (bins, boxes), labelled 0 'unlabeled' as void in Cityscapes' sense."""
    w, hgt = rng.uniform(0.4, 0.8), rng.uniform(0.6, 1.2)
    colour = _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
    for name, pts in _box_faces(cam, x - w / 2, x + w / 2, 0, hgt, z, z + w):
        canvas.polygon(pts, colour * {"side": 0.75, "top": 1.1, "back": 1.0}[name], UNLABELED, z)


@dataclass
class Item:
    """An object to draw: ``draw(canvas, camera, rng, x, z, **extra)``, at ground point (x, z)."""

    z: float
    draw: Callable[..., None]
    x: float
    extra: dict[str, Any]


def _place_objects(rng: np.random.Generator, street: Street, z_near: float, furniture: bool = True) -> list[Item]:
    """Objects along both sidewalks and cars on the road; one person, car, pole and sign are
    always placed near enough to be seen well. Without ``furniture`` no poles or signs are
    placed (the scene has the seven classes road, sidewalk, building, vegetation, sky, car,
    person)."""
    items: list[Item] = []
    sides = ((street.curb_l, street.wall_l, -1.0), (street.curb_r, street.wall_r, 1.0))

    def on_walk(curb: float, wall: float) -> float:
        return rng.uniform(min(curb, wall) + 0.4, max(curb, wall) - 0.4)

    def add(kind: str, z: float, curb: float, wall: float, out: float) -> None:
        if kind in ("pole", "sign") and not furniture:
            return
        if kind == "tree":
            items.append(Item(z, draw_tree, curb + out * 0.9, {}))
        elif kind == "person":
            items.append(Item(z, draw_person, on_walk(curb, wall), {}))
        elif kind == "pole":
            items.append(Item(z, draw_pole, curb + out * 0.5, {"toward": -out}))
        elif kind == "sign":
            items.append(Item(z, draw_sign, curb + out * 0.4, {}))
        else:
            items.append(Item(z, draw_bin, wall - out * rng.uniform(0.5, 1.0), {}))

    for curb, wall, out in sides:
        z = z_near + rng.uniform(-2, 4)
        tree_every = rng.uniform(7, 14) if rng.random() < 0.6 else None
        next_tree = z + rng.uniform(0, 6)
        while z < 70:
            z += rng.uniform(2.5, 8.0)
            u = rng.random()
            if tree_every and z >= next_tree:
                next_tree = z + tree_every
                add("tree", z, curb, wall, out)
            elif u < 0.68:
                add("person" if u < 0.3 else "pole" if u < 0.45 else "sign" if u < 0.6 else "bin", z, curb, wall, out)
    for kind in ("person", "pole", "sign"):
        add(kind, rng.uniform(z_near + 1.5, 18), *sides[int(rng.integers(2))])
    # cars: parked along the curbs and driving in the lanes, without overlaps
    middle = (street.curb_l + street.curb_r) / 2
    lanes = [street.curb_l + 1.1, street.curb_r - 1.1, *rng.uniform(street.curb_l + 1.5, street.curb_r - 1.5, 2)]
    wanted = [rng.uniform(z_near + 1, 22)] + [rng.uniform(z_near, 70) for _ in range(int(rng.integers(1, 7)))]
    taken: list[tuple[float, float]] = []
    for cz in wanted:
        cx = lanes[int(rng.integers(len(lanes)))]
        if any(abs(cx - tx) < 2.1 and abs(cz - tz) < 5.8 for tx, tz in taken):
            continue
        taken.append((cx, cz))
        items.append(Item(cz, draw_car, cx, {"facing_away": bool(cx > middle - 1 or rng.random() < 0.5)}))
    if rng.random() < 0.3:  # someone crossing the road
        items.append(Item(rng.uniform(z_near + 2, 25), draw_person,
                          rng.uniform(street.curb_l + 0.5, street.curb_r - 0.5), {}))
    return items


def render_street(rng: np.random.Generator, size: tuple[int, int],
                  furniture: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (uint8 RGB image (H, W, 3), uint8 Cityscapes labelIds (H, W)); ``furniture``:
    street lights and traffic signs (poles, signs) besides the seven main classes."""
    h, w = size
    street = _sample_street(rng, size)
    canvas = Canvas(size)
    haze = render_background(rng, street, canvas)
    cam = street.cam
    z_near = cam.f * cam.height / max(h - cam.cy, 1.0)  # ground depth at the bottom row
    items = _place_objects(rng, street, z_near, furniture)
    for item in sorted(items, key=lambda item: -item.z):  # far to near
        item.draw(canvas, cam, rng, item.x, item.z, **item.extra)
    # light: haze with distance, global gain and tint, then sensor noise and blur
    img = canvas.image.astype(np.float32)
    fog = 1 - np.exp(-canvas.depth / rng.uniform(150, 700))
    img += (haze.astype(np.float32) - img) * fog[..., None] * 0.8
    img = img * rng.uniform(0.75, 1.2) * rng.uniform(0.93, 1.07, 3).astype(np.float32)
    img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.85, 1.15)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.35, 0.7))
    img += rng.normal(0, rng.uniform(1.5, 5.0), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).round().astype(np.uint8), canvas.label.copy()


# ---------------------------------------------------------------------------------------------
# Writing the dataset
# ---------------------------------------------------------------------------------------------

def _stem(index: int) -> str:
    return f"{CITY}_000000_{index:06d}"


def sample_paths(root: Path, split: str, index: int) -> tuple[Path, Path]:
    """(image, labelIds) paths of one sample, as Cityscapes names them."""
    stem = _stem(index)
    return (root / "leftImg8bit" / split / CITY / f"{stem}_leftImg8bit.png",
            root / "gtFine" / split / CITY / f"{stem}_gtFine_labelIds.png")



def _config(num_train: int, num_val: int, size: tuple[int, int], seed: int, furniture: bool) -> dict[str, Any]:
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ConfigError(f"synthetic_streets: need a positive number of images, got {num_train} + {num_val}")
    if len(size) != 2 or min(size) < 32:
        raise ConfigError(f"synthetic_streets: size (H, W) must be at least 32 x 32, got {size}")
    return {"format_version": FORMAT_VERSION, "num_train": int(num_train), "num_val": int(num_val),
            "size": [int(size[0]), int(size[1])], "seed": int(seed), "furniture": bool(furniture)}


def _remove_stale(root: Path, split: str, count: int) -> None:
    """Delete generated files beyond ``count`` left by an earlier, larger run."""
    keep = {p.name for i in range(count) for p in sample_paths(root, split, i)}
    for folder in (root / "leftImg8bit" / split / CITY, root / "gtFine" / split / CITY):
        for p in folder.glob(f"{CITY}_000000_*.png") if folder.is_dir() else ():
            if p.name not in keep:
                p.unlink()


def generate_synthetic_streets(root: str | os.PathLike, num_train: int = 200, num_val: int = 50,
                               size: tuple[int, int] = (128, 256), seed: int = 0, furniture: bool = True, *,
                               progress_every: int = 50,
                               log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Write the train and val splits under ``root``; returns the config with ``seconds``.

    ``size`` is (height, width). The completion marker is removed first and written last.
    """
    root = Path(root)
    config = _config(num_train, num_val, size, seed, furniture)
    (root / MARKER_NAME).unlink(missing_ok=True)
    start = time.perf_counter()
    hw = (int(size[0]), int(size[1]))
    for split, count in (("train", num_train), ("val", num_val)):
        _remove_stale(root, split, count)
        for i in range(count):
            rng = np.random.default_rng([seed, SPLITS.index(split), i])
            image, label = render_street(rng, hw, furniture)
            image_path, label_path = sample_paths(root, split, i)
            write_image(image_path, image)
            write_image(label_path, label)
            if log and progress_every and ((i + 1) % progress_every == 0 or i + 1 == count):
                log(f"synthetic_streets: {split} {i + 1}/{count} ({time.perf_counter() - start:.1f}s)")
    write_json(root / MARKER_NAME, config)
    seconds = time.perf_counter() - start
    if log:
        log(f"synthetic_streets: wrote {num_train} + {num_val} images of {hw[1]}x{hw[0]} to {root} in {seconds:.1f}s")
    return {**config, "root": str(root), "seconds": seconds}


def _is_complete(root: Path, config: dict[str, Any]) -> bool:
    try:
        if json.loads((root / MARKER_NAME).read_text()) != config:
            return False
    except (OSError, ValueError):
        return False
    return all(p.is_file() for split, key in (("train", "num_train"), ("val", "num_val"))
               for i in range(config[key]) for p in sample_paths(root, split, i))


def ensure_synthetic_streets(root: str | os.PathLike, num_train: int = 200, num_val: int = 50,
                             size: tuple[int, int] = (128, 256), seed: int = 0, furniture: bool = True, *,
                             progress_every: int = 50,
                             log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Generate the dataset unless a complete one with the same settings is already at ``root``."""
    root = Path(root)
    config = _config(num_train, num_val, size, seed, furniture)
    if _is_complete(root, config):
        return {**config, "root": str(root), "seconds": 0.0}
    if log and (root / MARKER_NAME).exists():
        log(f"synthetic_streets: {root} is incomplete or was made with other settings; regenerating")
    return generate_synthetic_streets(root, num_train, num_val, size, seed, furniture,
                                      progress_every=progress_every, log=log)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic Cityscapes-layout street dataset.")
    parser.add_argument("root")
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-val", type=int, default=50)
    parser.add_argument("--size", type=int, nargs=2, default=(128, 256), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-furniture", action="store_true", help="no street lights or traffic signs")
    args = parser.parse_args(argv)
    ensure_synthetic_streets(args.root, args.num_train, args.num_val, tuple(args.size), args.seed,
                             not args.no_furniture)


if __name__ == "__main__":
    main()
