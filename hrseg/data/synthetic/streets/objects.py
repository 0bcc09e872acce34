"""What stands in a synthetic street: trees, street lights, traffic signs, cars (3D boxes),
pedestrians and bins, drawn at the size their depth gives, and where they are placed."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hrseg.data.synthetic.canvas import Canvas
from hrseg.data.synthetic.streets.street import (
    CAR, PERSON, POLE, SIGN, UNLABELED, VEGETATION, Camera, Street, hsv, leaf_colour,
)

def _quad(cam: Camera, x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    """A rectangle facing the camera at depth z."""
    return cam.project([x0, x1, x1, x0], [y0, y0, y1, y1], z)


def draw_tree(canvas: Canvas, cam: Camera, rng: np.random.Generator, x: float, z: float) -> None:
    """A street tree: trunk and a crown of overlapping leafy ellipses (all vegetation)."""
    trunk_h = rng.uniform(1.8, 3.2)
    bark = hsv(rng.uniform(0.05, 0.1), rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.4))
    canvas.polygon(_quad(cam, x - 0.14, x + 0.14, 0, trunk_h + 0.5, z), bark, VEGETATION, z)
    colour = leaf_colour(rng)
    radius = rng.uniform(1.2, 2.6)
    for _ in range(int(rng.integers(4, 9))):
        cx, cy = x + rng.normal(0, radius * 0.5), trunk_h + radius + rng.normal(0, radius * 0.4)
        r = radius * rng.uniform(0.5, 0.9)
        centre = cam.project(cx, cy, z)
        shade = rng.uniform(0.75, 1.15)
        canvas.ellipse(centre, (cam.f * r / z, cam.f * r * rng.uniform(0.8, 1.1) / z), colour * shade,
                       VEGETATION, z, texture=canvas.textures["leaves"])


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
    paint = (np.full(3, rng.uniform(20, 235)) if u < 0.5 else hsv(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9)))
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
    shirt = hsv(rng.random(), rng.uniform(0.1, 0.9), rng.uniform(0.2, 0.95))
    pants = hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.1, 0.6))
    hair = hsv(rng.uniform(0.03, 0.1), rng.uniform(0.2, 0.7), rng.uniform(0.05, 0.5))
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
    colour = hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
    for name, pts in _box_faces(cam, x - w / 2, x + w / 2, 0, hgt, z, z + w):
        canvas.polygon(pts, colour * {"side": 0.75, "top": 1.1, "back": 1.0}[name], UNLABELED, z)


@dataclass
class Item:
    """An object to draw: ``draw(canvas, camera, rng, x, z, **extra)``, at ground point (x, z)."""

    z: float
    draw: Callable[..., None]
    x: float
    extra: dict[str, Any]


def place_objects(rng: np.random.Generator, street: Street, z_near: float, furniture: bool = True) -> list[Item]:
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
