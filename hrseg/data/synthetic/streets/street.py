"""The static street of a synthetic street scene: a pinhole camera at 1.2-1.6 m looking down a
straight street, and the street itself ray-cast per pixel against four planes (the ground, the
two facade planes, an optional wall closing the street), so road, lane markings, sidewalk tiles,
facades, windows and hedges are in correct perspective; the sky fills what no ray hits.

Textures are box-filtered over each pixel's footprint (:func:`stripes`, :func:`band`), so distant
windows, tiles and dashes blend instead of aliasing. Colours are RGB floats (0..255).
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from hrseg.data.synthetic.canvas import Canvas

__all__ = ["Camera", "Segment", "Street", "render_background", "sample_street"]

UNLABELED, ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR = 0, 7, 8, 11, 17, 20, 21, 23, 24, 26
FAR = 1e4  # metres: "infinitely" far

Colour = np.ndarray  # RGB float (3,), 0..255


# -- small helpers: colours, noise, box-filtered stripes ------------------------------------------

def hsv(h: float, s: float, v: float) -> Colour:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) * 255.0


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, unit-std noise with features about ``cell`` pixels large."""
    h, w = shape
    small = rng.standard_normal((int(h / cell) + 3, int(w / cell) + 3)).astype(np.float32)
    big = cv2.resize(small, (w + 2 * int(cell), h + 2 * int(cell)), interpolation=cv2.INTER_CUBIC)
    out = big[int(cell):int(cell) + h, int(cell):int(cell) + w]
    return (out - out.mean()) / (out.std() + 1e-6)


def stripes(u: np.ndarray, footprint: np.ndarray, period: float, duty: float, phase: float = 0.0) -> np.ndarray:
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


def band(u: np.ndarray, footprint: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fraction of the pixel footprint inside ``[lo, hi]`` (one box-filtered bar)."""
    fp = np.maximum(footprint, 1e-6)
    return np.clip((np.minimum(u + fp / 2, hi) - np.maximum(u - fp / 2, lo)) / fp, 0.0, 1.0)


# -- the camera ----------------------------------------------------------------------------------

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



# -- the street: ground, facades, end wall, sky ----------------------------------------------------

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
    return hsv(rng.uniform(hlo, hhi), rng.uniform(slo, shi), rng.uniform(0.35, 0.95))


def leaf_colour(rng: np.random.Generator) -> Colour:
    return hsv(rng.uniform(0.17, 0.33), rng.uniform(0.35, 0.8), rng.uniform(0.25, 0.6))


def _segments(rng: np.random.Generator, vegetation_p: float) -> list[Segment]:
    segs, z = [], 0.0
    while z < 600.0:
        length = rng.uniform(8.0, 30.0)
        if rng.random() < vegetation_p:
            segs.append(Segment(z, z + length, "vegetation", rng.uniform(2.0, 9.0), leaf_colour(rng)))
        else:
            segs.append(Segment(z, z + length, "building", rng.uniform(7.0, 26.0), _facade_colour(rng),
                                floor=rng.uniform(2.8, 3.6), win_w=rng.uniform(0.7, 1.6),
                                win_period=rng.uniform(2.0, 4.0), win_phase=rng.uniform(0, 4),
                                glass=hsv(rng.uniform(0.5, 0.65), rng.uniform(0.05, 0.4), rng.uniform(0.1, 0.45)),
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


def sample_street(rng: np.random.Generator, shape: tuple[int, int]) -> Street:
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
    cols = stripes(u - phase, fu, period, np.clip(win_w / period, 0.1, 0.8))
    rows = stripes(v - 0.9, fv, floor, np.clip(1.5 / floor, 0.2, 0.8))
    upper = band(v, fv, floor, height - 0.8)
    ground = band(v, fv, 0.4, floor - 0.5) * np.where(shop, stripes(u - phase, fu, 6.0, 0.75), 0.0)
    win = np.clip(cols * rows * upper + ground, 0, 1)
    ledges = 0.12 * stripes(v, fv, floor, 0.06) + 0.2 * band(v, fv, height - 0.5, height)
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
    paint = hsv(rng.uniform(0.12, 0.16), rng.uniform(0, 0.7) * (rng.random() < 0.3), rng.uniform(0.75, 0.95))
    centre = (street.curb_l + street.curb_r) / 2 + rng.uniform(-0.5, 0.5)
    dash = band(x, fx, centre - 0.07, centre + 0.07) * stripes(z, fz, rng.uniform(6, 12), rng.uniform(0.3, 0.5),
                                                                rng.uniform(0, 10))
    edges = sum(band(x, fx, c - 0.06, c + 0.06) for c in (street.curb_l + 0.35, street.curb_r - 0.35))
    marks = np.clip(dash + edges * (rng.random() < 0.7), 0, 1)
    if rng.random() < 0.3:  # a zebra crossing
        z0 = rng.uniform(8, 30)
        marks = np.maximum(marks, band(z, fz, z0, z0 + 3.5) * stripes(x, fx, 1.0, 0.5))
    road = road * (1 - marks[..., None]) + paint * marks[..., None] * (1 + 0.05 * grain[..., None])
    pave = _facade_colour(rng) if rng.random() < 0.4 else np.full(3, rng.uniform(110, 200))
    tile = rng.uniform(0.3, 0.7)
    joints = 1 - (1 - stripes(x, fx, tile, 0.1)) * (1 - stripes(z, fz, tile * rng.uniform(1, 2), 0.1))
    walk = pave * (1 - 0.25 * joints[..., None] + 0.06 * grain[..., None] + 0.05 * stains[..., None])
    curb_col = np.full(3, rng.uniform(140, 210))
    curb = band(x, fx, street.curb_l - 0.25, street.curb_l) + band(x, fx, street.curb_r, street.curb_r + 0.25)
    walk = walk * (1 - curb[..., None]) + curb_col * curb[..., None]
    on_road = (x >= street.curb_l) & (x <= street.curb_r)
    return np.where(on_road[..., None], road, walk), np.where(on_road, ROAD, SIDEWALK).astype(np.uint8)


def _sky(rng: np.random.Generator, shape: tuple[int, int], horizon: float) -> tuple[np.ndarray, Colour]:
    """A sky image (clear, overcast or dusk, with clouds) and its colour at the horizon."""
    h, w = shape
    kind = rng.choice(["clear", "overcast", "dusk"], p=[0.55, 0.3, 0.15])
    if kind == "clear":
        top = hsv(rng.uniform(0.55, 0.62), rng.uniform(0.4, 0.75), rng.uniform(0.6, 0.9))
        low = top + (255 - top) * rng.uniform(0.3, 0.7)
    elif kind == "overcast":
        top = np.full(3, rng.uniform(150, 225)) * rng.uniform(0.95, 1.05, 3)
        low = top * rng.uniform(1.0, 1.12)
    else:
        top, low = hsv(rng.uniform(0.58, 0.7), 0.45, rng.uniform(0.4, 0.7)), hsv(rng.uniform(0.02, 0.1), 0.55, 0.95)
    t = np.clip(np.arange(h, dtype=np.float32) / max(horizon, 1.0), 0, 1)[:, None, None]
    sky = np.broadcast_to(top * (1 - t) + low * t, (h, w, 3)).astype(np.float32)
    clouds = np.clip(smooth_noise(rng, shape, w / rng.uniform(3, 8)) * 0.6 - rng.uniform(-0.2, 0.8), 0, 1)
    sky = sky + (np.float32(min(255, low.max() + 20)) - sky) * (clouds * rng.uniform(0.3, 0.8))[..., None]
    return np.clip(sky, 0, 255), np.clip(low, 0, 255)


def render_background(rng: np.random.Generator, street: Street, canvas: Canvas) -> Colour:
    """Ray-cast the static street into the canvas; returns the haze colour."""
    h, w = canvas.labels.shape
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
    z = np.minimum(z_all.min(0), FAR)
    hit = np.isfinite(z_all.min(0))

    grain = rng.standard_normal((h, w)).astype(np.float32)
    stains = smooth_noise(rng, (h, w), max(3.0, w / 40))
    canvas.textures["leaves"] = (0.8 + 0.35 * np.clip(smooth_noise(rng, (h, w), 1.3) * 0.7 + 0.6 * grain, -1.5, 1.5) / 1.5)
    leaves = canvas.textures["leaves"]
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
    canvas.labels[:] = label
    canvas.depth[:] = np.where(hit, z, FAR)
    return haze
