"""Synthetic COCO-format person-keypoint mini-splits, for training and CI without real data.

Each image shows 1 to ``max_people`` articulated figures and a few distractor objects (balls,
boxes, signs) on a textured background. A figure is a 3D stick body (pelvis, bendable spine,
two-segment arms and legs, a head with a face on one side) posed by a seeded
``numpy.random.Generator``, turned about the vertical axis (front, profile and back views),
rolled in the image plane, projected orthographically and drawn part by part from far to near.

Labels follow what COCO annotators do, and they are read off the rendered picture rather than
guessed: every part is also drawn into a label map (entity index and body part per pixel), so
a joint is ``v=2`` when the topmost pixel under it belongs to one of its own adjacent parts,
``v=1`` when something else (another figure, an object, the figure's own torso or other arm)
covers it, and ``v=0`` at (0, 0) when it lies outside the image or is a face point turned away
from the camera (nose and eyes of a figure seen from the back). Boxes, areas and polygons come
from the same label map, so they describe the visible figure (a box also takes in the labelled
joints, plus a 2 px margin). Coordinates follow OpenCV's drawing: integers are pixel centres.

Learnable cues, as clothing and faces give in photographs: the face (skin, eyes, nose) shows
front from back and so which side is the figure's left; the left limbs wear a lighter tone of
the clothing colour and the right limbs a darker one. The tone cue is not flip-invariant:
training with horizontal flips (which swaps left and right labels) turns it into noise, while
the face cue stays valid.

Output layout under ``root``::

    images/{train,val}/<12-digit id>.jpg
    annotations/person_keypoints_{train,val}.json   COCO person_keypoints
    annotations/instances_{train,val}.json          COCO instances: person, ball, box, sign
    COMPLETE.json                                   written last: the config and counts

Everything is written atomically; the same arguments give byte-identical files.
"""
from __future__ import annotations

import colorsys
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from hrseg.meta.keypoints import KEYPOINT_NAMES, PERSON_CATEGORY_ID, SKELETON
from hrseg.errors import ConfigError
from hrseg.utils.io import atomic_path, write_json

__all__ = [
    "INSTANCE_CATEGORIES", "KEYPOINT_NAMES", "MARKER_NAME", "PERSON_CATEGORY", "SKELETON",
    "Person", "Pose", "SceneObject", "SceneParams", "annotate", "dataset_paths",
    "ensure_synthetic_pose", "generate_synthetic_pose", "render_sample", "render_scene",
    "sample_person", "sample_pose", "sample_scene",
]

PERSON_CATEGORY: dict[str, Any] = {
    "supercategory": "person", "id": PERSON_CATEGORY_ID, "name": "person",
    "keypoints": list(KEYPOINT_NAMES), "skeleton": [list(p) for p in SKELETON],
}
OBJECT_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"supercategory": "sports", "id": 2, "name": "ball"},
    {"supercategory": "object", "id": 3, "name": "box"},
    {"supercategory": "outdoor", "id": 4, "name": "sign"},
)
INSTANCE_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"supercategory": "person", "id": PERSON_CATEGORY_ID, "name": "person"},
) + OBJECT_CATEGORIES
SPLITS = ("train", "val")
MARKER_NAME = "COMPLETE.json"
FORMAT_VERSION = 1
_VAL_ID_OFFSET = 1_000_000  # image ids of the val split start here, so ids are unique overall
_ANNS_PER_IMAGE = 100  # annotation id = image id * 100 + index within the image

# ---------------------------------------------------------------------------------------------
# Body model (units: standing height = 1; X = the figure's left, Y = down, Z = forward)
# ---------------------------------------------------------------------------------------------

_BODY = {
    "spine": 0.30, "neck": 0.125, "shoulder_hw": 0.115, "hip_hw": 0.08,
    "upper_arm": 0.165, "forearm": 0.15, "thigh": 0.235, "shin": 0.225, "foot": 0.065,
    "head_rh": 0.05, "head_rv": 0.062,
}
# Face points on the unit head sphere (x = left, y = down, z = forward).
_FACE_LOCAL = {
    "nose": (0.0, 0.15, 0.95), "left_eye": (0.38, -0.12, 0.88), "right_eye": (-0.38, -0.12, 0.88),
    "left_ear": (1.0, 0.0, -0.05), "right_ear": (-1.0, 0.0, -0.05),
}
# A face point is labelled only when its depth toward the camera (in head radii) exceeds this.
_FACE_MIN_DEPTH = {"nose": -0.25, "left_eye": -0.1, "right_eye": -0.1,
                   "left_ear": -0.45, "right_ear": -0.45}

# Body parts: the low 5 bits of the label map.
TORSO, HEAD, NECK = 0, 1, 2
HAIR = 15  # part of the head, labelled apart for human parsing (hrseg.data.synthetic.lip)
UPPER_ARM, FOREARM, HAND, THIGH, SHIN, FOOT = (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14)
_PART_BITS = 5


def _joint_parts() -> tuple[frozenset[int], ...]:
    """For each COCO joint, the body parts whose pixels show it (left index 0, right 1)."""
    face = [frozenset({HEAD, HAIR})] * 5
    body = []
    for pair in ((UPPER_ARM, TORSO), (UPPER_ARM, FOREARM), (FOREARM, HAND),
                 (THIGH, TORSO), (THIGH, SHIN), (SHIN, FOOT)):
        for side in (0, 1):
            body.append(frozenset(p if isinstance(p, int) else p[side] for p in pair))
    return tuple(face + body)


_JOINT_PARTS = _joint_parts()


def _direction(abduction: float, flexion: float, side: float) -> np.ndarray:
    """Unit limb direction: 0/0 hangs down; abduction swings out to the side, flexion forward."""
    a, f = math.radians(abduction), math.radians(flexion)
    return np.array([side * math.sin(a), math.cos(a) * math.cos(f), math.cos(a) * math.sin(f)])


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees; each limb tuple is (left, right) of (abduction, flexion)."""

    spine_forward: float
    spine_side: float
    head_yaw: float  # relative to the body
    upper_arm: tuple[tuple[float, float], tuple[float, float]]
    forearm: tuple[tuple[float, float], tuple[float, float]]
    thigh: tuple[tuple[float, float], tuple[float, float]]
    shin: tuple[tuple[float, float], tuple[float, float]]


def _sphere_points(n: int = 96) -> np.ndarray:
    """Evenly spread points on the unit sphere (golden spiral), used to shape the hair."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / n)
    theta = math.pi * (1.0 + 5.0**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.cos(phi), np.sin(theta) * np.sin(phi)], 1)


_SPHERE = _sphere_points()
_HAIR_LOCAL = _SPHERE[(_SPHERE[:, 1] < -0.25) | ((_SPHERE[:, 2] < -0.1) & (_SPHERE[:, 1] < 0.65))]


def _rot_y(points: np.ndarray, angle: float) -> np.ndarray:
    """Turn points about the vertical axis; positive turns the front (+Z) toward +X."""
    c, s = math.cos(angle), math.sin(angle)
    out = points.copy()
    out[..., 0] = points[..., 0] * c + points[..., 2] * s
    out[..., 2] = -points[..., 0] * s + points[..., 2] * c
    return out


def body_points(pose: Pose, build: float = 1.0) -> dict[str, np.ndarray]:
    """3D positions of the 17 joints plus the helper points the drawing needs.

    ``build`` scales the shoulder and hip width (slim to broad figures).
    """
    b = _BODY
    fwd, side = math.radians(pose.spine_forward), math.radians(pose.spine_side)
    up = np.array([math.sin(side), -math.cos(side) * math.cos(fwd), math.cos(side) * math.sin(fwd)])
    lateral = np.array([math.cos(side), math.sin(side), 0.0])
    neck = up * b["spine"]
    p: dict[str, np.ndarray] = {"pelvis": np.zeros(3), "neck": neck, "head": neck + up * b["neck"]}
    for i, (name, sgn) in enumerate((("left", 1.0), ("right", -1.0))):
        sh = neck + lateral * sgn * b["shoulder_hw"] * build
        el = sh + b["upper_arm"] * _direction(*pose.upper_arm[i], sgn)
        fa_dir = _direction(*pose.forearm[i], sgn)
        hip = np.array([sgn * b["hip_hw"] * build, 0.0, 0.0])
        knee = hip + b["thigh"] * _direction(*pose.thigh[i], sgn)
        ankle = knee + b["shin"] * _direction(*pose.shin[i], sgn)
        p.update({f"{name}_shoulder": sh, f"{name}_elbow": el,
                  f"{name}_wrist": el + b["forearm"] * fa_dir,
                  f"{name}_hand": el + (b["forearm"] + 0.03) * fa_dir,
                  f"{name}_hip": hip, f"{name}_knee": knee, f"{name}_ankle": ankle,
                  f"{name}_toe": ankle + b["foot"] * np.array([0.0, 0.25, 0.97])})
    radii = np.array([b["head_rh"], b["head_rv"], b["head_rh"]])
    yaw = math.radians(pose.head_yaw)
    for name, local in _FACE_LOCAL.items():
        p[name] = p["head"] + _rot_y(np.array(local) * radii, yaw)
    p["hair"] = p["head"] + _rot_y(_HAIR_LOCAL * radii, yaw)
    return p


# ---------------------------------------------------------------------------------------------
# Pose and appearance sampling
# ---------------------------------------------------------------------------------------------

def _standing_legs(rng: np.random.Generator) -> dict[str, Any]:
    thigh = tuple((rng.uniform(2, 10), rng.normal(0, 4)) for _ in range(2))
    shin = tuple((a - rng.uniform(0, 4), f - rng.uniform(0, 8)) for a, f in thigh)
    return {"thigh": thigh, "shin": shin}


def _hanging_arms(rng: np.random.Generator) -> dict[str, Any]:
    upper = tuple((rng.uniform(5, 22), rng.normal(0, 10)) for _ in range(2))
    fore = tuple((a + rng.uniform(-5, 10), f + rng.uniform(0, 30)) for a, f in upper)
    return {"upper_arm": upper, "forearm": fore}


def _raised_arm(rng: np.random.Generator) -> tuple[tuple[float, float], tuple[float, float]]:
    """One arm up, out or pointing forward: (upper arm, forearm)."""
    if rng.random() < 0.7:
        upper = (rng.uniform(60, 170), rng.normal(0, 10))
        return upper, (upper[0] + rng.uniform(-35, 35), upper[1] + rng.uniform(0, 20))
    upper = (rng.uniform(0, 30), rng.uniform(50, 110))
    return upper, (upper[0], upper[1] + rng.uniform(0, 50))


def _walking(rng: np.random.Generator) -> dict[str, Any]:
    swing = rng.uniform(12, 35) * rng.choice([-1.0, 1.0])
    thigh = ((rng.uniform(2, 8), swing), (rng.uniform(2, 8), -swing))
    shin = tuple((a, f - rng.uniform(5, 45)) for a, f in thigh)
    upper = ((rng.uniform(5, 15), -0.8 * swing), (rng.uniform(5, 15), 0.8 * swing))
    fore = tuple((a, f + rng.uniform(10, 45)) for a, f in upper)
    return {"thigh": thigh, "shin": shin, "upper_arm": upper, "forearm": fore}


def _arms_up(rng: np.random.Generator) -> dict[str, Any]:
    """Both arms raised, or one raised and the other hanging."""
    hang = _hanging_arms(rng)
    other = _raised_arm(rng) if rng.random() < 0.5 else (hang["upper_arm"][1], hang["forearm"][1])
    arms = [_raised_arm(rng), other]
    if rng.random() < 0.5:
        arms.reverse()
    return {**_standing_legs(rng), "upper_arm": tuple(a[0] for a in arms),
            "forearm": tuple(a[1] for a in arms)}


def _seated(rng: np.random.Generator, crouch: bool) -> dict[str, Any]:
    lo, hi = (100, 135) if crouch else (75, 100)
    thigh = tuple((rng.uniform(5, 22), rng.uniform(lo, hi)) for _ in range(2))
    shin = tuple((a * 0.5, rng.uniform(-30, 0) if crouch else rng.uniform(-12, 18))
                 for a, _ in thigh)
    upper = tuple((rng.uniform(5, 25), rng.uniform(15, 70)) for _ in range(2))
    fore = tuple((a, f + rng.uniform(30, 80)) for a, f in upper)
    return {"thigh": thigh, "shin": shin, "upper_arm": upper, "forearm": fore,
            "spine_forward": rng.uniform(20, 45) if crouch else rng.uniform(-5, 15)}


_POSE_KINDS: tuple[tuple[str, float], ...] = (
    ("standing", 0.27), ("walking", 0.25), ("arms_up", 0.24), ("sitting", 0.12),
    ("crouching", 0.12),
)


def sample_pose(rng: np.random.Generator) -> Pose:
    """A plausible random pose: standing, walking, arm(s) raised, sitting or crouching."""
    kinds, probs = zip(*_POSE_KINDS)
    kind = kinds[rng.choice(len(kinds), p=np.array(probs) / sum(probs))]
    if kind == "standing":
        angles = {**_standing_legs(rng), **_hanging_arms(rng)}
    elif kind == "walking":
        angles = _walking(rng)
    elif kind == "arms_up":
        angles = _arms_up(rng)
    else:
        angles = _seated(rng, crouch=kind == "crouching")
    angles.setdefault("spine_forward", rng.normal(3, 4))
    head_yaw = float(np.clip(rng.normal(0, 12), -35, 35))
    return Pose(spine_side=float(rng.normal(0, 5)), head_yaw=head_yaw,
                **{k: _floats(v) for k, v in angles.items()})


def _floats(value: Any) -> Any:
    """Plain floats (not numpy scalars) in nested tuples, so poses compare and print cleanly."""
    return tuple(_floats(v) for v in value) if isinstance(value, tuple) else float(value)


def sample_view(rng: np.random.Generator) -> tuple[float, float]:
    """(yaw, roll) in degrees: mostly front views, some profiles and back views, a few tilted."""
    u = rng.random()
    if u < 0.5:
        yaw = rng.normal(0, 22)
    elif u < 0.72:
        yaw = rng.uniform(40, 100) * rng.choice([-1.0, 1.0])
    else:
        yaw = 180 + rng.normal(0, 22)
    u = rng.random()
    if u < 0.75:
        roll = rng.normal(0, 5)
    else:
        limit = 35 if u < 0.96 else 75
        roll = rng.uniform(-limit, limit)
    return float(yaw), float(roll)


Colour = tuple[int, int, int]  # BGR, as the images are written by OpenCV

_SKIN = ((180, 200, 240), (140, 175, 225), (110, 150, 200), (80, 115, 170), (50, 80, 125),
         (35, 55, 90))
_HAIR = ((20, 20, 25), (25, 45, 70), (40, 70, 110), (110, 180, 220), (150, 150, 155), (30, 60, 160))
_PANTS = ((110, 60, 30), (30, 30, 30), (90, 90, 90), (120, 170, 190))
_SHOES = ((25, 25, 25), (30, 50, 90), (230, 230, 230))


@dataclass(frozen=True)
class Palette:
    """A figure's colours; arms and legs get a lighter tone on the left, a darker on the right."""

    skin: Colour
    hair: Colour
    shirt: Colour
    pants: Colour
    shoes: Colour
    long_sleeves: bool
    shorts: bool


def _jitter(rng: np.random.Generator, colour: Colour, amount: float = 12) -> Colour:
    return _clip_colour(c + rng.normal(0, amount) for c in colour)


def _clip_colour(values: Any) -> Colour:
    return tuple(min(255, max(0, int(c))) for c in values)  # type: ignore[return-value]


def _random_colour(rng: np.random.Generator, s: tuple[float, float] = (0.3, 0.9),
                   v: tuple[float, float] = (0.3, 0.95)) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v))
    return int(b * 255), int(g * 255), int(r * 255)


def _pick(rng: np.random.Generator, options: tuple[Colour, ...]) -> Colour:
    return options[int(rng.integers(len(options)))]


def sample_palette(rng: np.random.Generator) -> Palette:
    pants = _pick(rng, _PANTS) if rng.random() < 0.5 else _random_colour(rng)
    return Palette(skin=_jitter(rng, _pick(rng, _SKIN)), hair=_jitter(rng, _pick(rng, _HAIR)),
                   shirt=_random_colour(rng), pants=_jitter(rng, pants),
                   shoes=_jitter(rng, _pick(rng, _SHOES)),
                   long_sleeves=bool(rng.random() < 0.5), shorts=bool(rng.random() < 0.25))


def _tone(colour: Colour, side: int, strength: float = 0.3) -> Colour:
    """Side 0 (left) lighter, side 1 (right) darker: the consistent left/right clothing cue."""
    c = np.array(colour, dtype=np.float64)
    c = c + (255 - c) * strength if side == 0 else c * (1 - strength)
    return tuple(int(round(x)) for x in c)  # type: ignore[return-value]


def _shade(colour: Colour, factor: float) -> Colour:
    return _clip_colour(c * factor for c in colour)


# ---------------------------------------------------------------------------------------------
# Drawing (every shape goes into the image and, with its label, into the label map)
# ---------------------------------------------------------------------------------------------

_SHIFT = 4  # OpenCV sub-pixel bits: coordinates are drawn with 1/16 px precision


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)


@dataclass
class Canvas:
    """An image (BGR uint8) and its label map (uint16: entity << 5 | part, 0 = background)."""

    image: np.ndarray
    labels: np.ndarray

    def polygon(self, points: np.ndarray, colour: Colour, label: int | None) -> None:
        pts = _fixed(points)
        cv2.fillConvexPoly(self.image, pts, colour, cv2.LINE_AA, _SHIFT)
        if label is not None:
            cv2.fillConvexPoly(self.labels, pts, int(label), cv2.LINE_8, _SHIFT)

    def ellipse(self, centre: np.ndarray, axes: tuple[float, float], angle: float, colour: Colour,
                label: int | None) -> None:
        c = tuple(int(v) for v in _fixed(centre))
        ax = tuple(max(1, int(v)) for v in _fixed(axes))
        cv2.ellipse(self.image, c, ax, angle, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
        if label is not None:
            cv2.ellipse(self.labels, c, ax, angle, 0, 360, int(label), -1, cv2.LINE_8, _SHIFT)

    def disc(self, centre: np.ndarray, radius: float, colour: Colour, label: int | None) -> None:
        self.ellipse(centre, (radius, radius), 0.0, colour, label)

    def limb(self, a: np.ndarray, b: np.ndarray, wa: float, wb: float, colour: Colour,
             label: int | None) -> None:
        """A tapered segment with round ends and a dark outline (so crossing limbs stay apart)."""
        for grow, col in ((1.0, _shade(colour, 0.55)), (0.0, colour)):
            self._capsule(a, b, wa / 2 + grow, wb / 2 + grow, col, label if grow else None)

    def _capsule(self, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour: Colour,
                 label: int | None) -> None:
        d = b - a
        n = np.linalg.norm(d)
        if n > 1e-6:
            normal = np.array([-d[1], d[0]]) / n
            quad = np.stack([a + normal * ra, b + normal * rb, b - normal * rb, a - normal * ra])
            self.polygon(quad, colour, label)
        self.disc(a, ra, colour, label)
        self.disc(b, rb, colour, label)


# ---------------------------------------------------------------------------------------------
# Scene entities
# ---------------------------------------------------------------------------------------------

@dataclass
class Person:
    """A posed, placed figure (see :func:`sample_person` for random ones)."""

    pose: Pose
    yaw: float  # degrees; 0 faces the camera, 180 shows the back
    roll: float  # degrees, image-plane rotation about the pelvis
    scale: float  # standing height in pixels
    centre: tuple[float, float]  # pelvis position in the image
    palette: Palette
    depth: float  # larger is nearer the camera
    build: float = 1.0
    category_id: int = PERSON_CATEGORY_ID

    def __post_init__(self) -> None:
        self.points3d = body_points(self.pose, self.build)
        names = list(self.points3d)
        stacked = np.concatenate([np.atleast_2d(self.points3d[n]) for n in names])
        xy, t = project(stacked, self.yaw, self.roll, self.scale, self.centre)
        pad = 0.06 * self.scale
        self._box = (float(xy[:, 0].min() - pad), float(xy[:, 1].min() - pad),
                     float(xy[:, 0].max() + pad), float(xy[:, 1].max() + pad))
        self.xy: dict[str, np.ndarray] = {}
        self.t: dict[str, Any] = {}
        start = 0
        for n in names:  # single points come back as (2,) and scalar depth, groups as arrays
            k = len(np.atleast_2d(self.points3d[n]))
            single = self.points3d[n].ndim == 1
            self.xy[n] = xy[start] if single else xy[start:start + k]
            self.t[n] = float(t[start]) if single else t[start:start + k]
            start += k

    def box(self) -> tuple[float, float, float, float]:
        """Amodal extent (x0, y0, x1, y1) of the drawn figure, approximately."""
        return self._box

    def draw(self, canvas: Canvas, entity: int) -> None:
        base = entity << _PART_BITS
        for _, _, fn in sorted(self._parts(), key=lambda part: part[:2]):
            fn(canvas, base)

    def _parts(self) -> list[tuple[float, int, Callable[[Canvas, int], None]]]:
        """(depth, order, draw function) for every part; drawn far to near."""
        s, pal, t = self.scale, self.palette, self.t
        parts = [(t["neck"] * 0.5 + t["pelvis"] * 0.5, 0, self._draw_torso),
                 (t["head"] + 0.02 * s, 1, self._draw_head),
                 (t["head"] - 0.01 * s, 2,
                  self._limb_fn("neck", "head", 0.045, 0.04, pal.skin, NECK))]
        for side, name in enumerate(("left", "right")):
            sleeve = pal.shirt if pal.long_sleeves else pal.skin
            shin_col = pal.skin if pal.shorts else pal.pants
            specs = (("shoulder", "elbow", 0.05, 0.042, pal.shirt, UPPER_ARM, 0.01 * s),
                     ("elbow", "wrist", 0.042, 0.032, sleeve, FOREARM, 0.012 * s),
                     ("wrist", "hand", 0.048, 0.04, pal.skin, HAND, 0.014 * s),
                     ("hip", "knee", 0.075, 0.06, pal.pants, THIGH, 0.005 * s),
                     ("knee", "ankle", 0.058, 0.042, shin_col, SHIN, 0.006 * s),
                     ("ankle", "toe", 0.042, 0.034, pal.shoes, FOOT, 0.007 * s))
            for a, b, wa, wb, col, part, bias in specs:
                depth = (t[f"{name}_{a}"] + t[f"{name}_{b}"]) / 2 + bias
                strength = 0.12 if col == pal.skin else 0.3
                parts.append((depth, 3 + part[side],
                              self._limb_fn(f"{name}_{a}", f"{name}_{b}", wa, wb,
                                            _tone(col, side, strength), part[side])))
        return parts

    def _limb_fn(self, a: str, b: str, wa: float, wb: float, colour: Colour,
                 part: int) -> Callable[[Canvas, int], None]:
        def draw(canvas: Canvas, base: int) -> None:
            s = self.scale
            canvas.limb(self.xy[a], self.xy[b], wa * s, wb * s, colour, base | part)
        return draw

    def _draw_torso(self, canvas: Canvas, base: int) -> None:
        xy, _ = project(self._torso_corners(), self.yaw, self.roll, self.scale, self.centre)
        hull = cv2.convexHull(xy.astype(np.float32))[:, 0, :]
        canvas.polygon(hull, _shade(self.palette.shirt, 0.55), base | TORSO)
        shrink = min(0.3, 2.0 / max(1.0, float(np.ptp(hull, 0).min())))  # about a 1 px outline
        canvas.polygon(hull + (hull.mean(0) - hull) * shrink, self.palette.shirt, None)

    def _torso_corners(self) -> np.ndarray:
        """3D corners whose projected hull is the torso: sloped shoulders, chest depth."""
        p, corners = self.points3d, []
        neck_dir = (p["neck"] - p["pelvis"]) / np.linalg.norm(p["neck"] - p["pelvis"])
        for sgn, name in ((1.0, "left"), (-1.0, "right")):
            for base, grow in ((p[f"{name}_shoulder"], 0.02), (p[f"{name}_hip"], 0.03),
                               (p["neck"] + neck_dir * 0.02, 0.05)):
                for dz in (-0.05, 0.05):
                    corners.append(base + np.array([sgn * grow, 0.0, dz]))
        return np.array(corners)

    def _draw_head(self, canvas: Canvas, base: int) -> None:
        s, pal, xy = self.scale, self.palette, self.xy
        label = base | HEAD
        axes = (_BODY["head_rh"] * s, _BODY["head_rv"] * s)
        outline = (axes[0] + 0.7, axes[1] + 0.7)
        canvas.ellipse(xy["head"], outline, self.roll, _shade(pal.skin, 0.6), label)
        canvas.ellipse(xy["head"], axes, self.roll, pal.skin, None)
        facing = self._face_depths()
        hair = xy["hair"][self.t["hair"] > self.t["head"] + 0.1 * axes[0]]  # the side facing us
        if len(hair) >= 3:
            canvas.polygon(cv2.convexHull(hair.astype(np.float32))[:, 0, :], pal.hair, base | HAIR)
        for ear in ("left_ear", "right_ear"):
            if facing[ear] > -0.3:
                ear_axes = (0.012 * s, 0.018 * s)
                canvas.ellipse(xy[ear], ear_axes, self.roll, _shade(pal.skin, 0.85), label)
        for eye in ("left_eye", "right_eye"):
            if facing[eye] > 0.0:
                canvas.disc(xy[eye], max(0.8, 0.009 * s), (25, 25, 25), label)
        if facing["nose"] > -0.25:
            canvas.disc(xy["nose"], max(0.8, 0.009 * s), _shade(pal.skin, 0.7), label)

    def _face_depths(self) -> dict[str, float]:
        """Depth of each face point toward the camera relative to the head centre, in head radii."""
        r = _BODY["head_rh"] * self.scale
        return {k: (self.t[k] - self.t["head"]) / r for k in _FACE_LOCAL}

    def keypoints(self, labels: np.ndarray, entity: int) -> list[float]:
        """COCO [x, y, v] * 17 read off the finished label map."""
        h, w = labels.shape
        face = self._face_depths()
        out: list[float] = []
        for j, name in enumerate(KEYPOINT_NAMES):
            x, y = (round(float(c), 2) for c in self.xy[name])
            labelled = face[name] > _FACE_MIN_DEPTH[name] if name in face else True
            if not (labelled and 0 <= x <= w - 1 and 0 <= y <= h - 1):
                out += [0, 0, 0]
                continue
            out += [x, y, 2 if self._shows(name, j, int(labels[round(y), round(x)]), entity) else 1]
        return out

    def _shows(self, name: str, j: int, label: int, entity: int) -> bool:
        """Whether the topmost pixel at joint ``j`` is one of its own parts, in front of it."""
        if label >> _PART_BITS != entity or (label & 31) not in _JOINT_PARTS[j]:
            return False
        if label & 31 != TORSO:
            return True
        # A shoulder or hip on the far side of the body is covered by the torso, not shown by it.
        half_width = _BODY["shoulder_hw" if "shoulder" in name else "hip_hw"] * self.scale
        return self.t[name] >= self.t["pelvis"] - 0.75 * half_width


def project(p: np.ndarray, yaw: float, roll: float, scale: float,
            centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic view of body points: turn by ``yaw``, roll in the image, scale, move.

    Returns image xy (..., 2) and depth toward the camera (...) in pixels.
    """
    q = _rot_y(np.asarray(p, dtype=np.float64), math.radians(yaw))
    c, s = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    x, y = q[..., 0], q[..., 1]
    xy = np.stack([x * c - y * s, x * s + y * c], -1) * scale + np.asarray(centre)
    return xy, q[..., 2] * scale


# ---------------------------------------------------------------------------------------------
# Distractor objects (other instance categories) and backgrounds
# ---------------------------------------------------------------------------------------------

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
        label = entity << _PART_BITS
        for kind, geom, colour in self.shapes:
            if kind == "poly":
                canvas.polygon(np.asarray(geom), colour, label)
            else:
                canvas.ellipse(geom[0], geom[1], geom[2], colour, label)


def _regular_polygon(centre: np.ndarray, radius: float, sides: int, phase: float) -> np.ndarray:
    a = phase + 2 * math.pi * np.arange(sides) / sides
    return centre + radius * np.stack([np.cos(a), np.sin(a)], 1)


def make_ball(rng: np.random.Generator, centre: np.ndarray, radius: float,
              depth: float) -> SceneObject:
    colour = _random_colour(rng, s=(0.5, 1.0), v=(0.6, 1.0))
    shapes: list[tuple[str, Any, Colour]] = [
        ("ellipse", (centre, (radius + 0.8, radius + 0.8), 0.0), _shade(colour, 0.5)),
        ("ellipse", (centre, (radius, radius), 0.0), colour)]
    if rng.random() < 0.6:  # a seam band
        band = (centre, (radius * 0.95, radius * 0.22), float(rng.uniform(0, 180)))
        shapes.append(("ellipse", band, _shade(colour, 0.65)))
    shapes.append(("ellipse", (centre - radius * 0.35, (radius * 0.3, radius * 0.3), 0.0),
                   _shade(colour, 1.35)))
    return SceneObject(2, depth, shapes)


def make_box(rng: np.random.Generator, centre: np.ndarray, size: float,
             depth: float) -> SceneObject:
    """A cuboid seen slightly from above: front, top and side faces."""
    w, h = size, size * rng.uniform(0.6, 1.3)
    a = math.radians(rng.uniform(-12, 12))
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    front = centre + np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ rot.T
    off = np.array([0.3, -0.35]) * size * rng.uniform(0.3, 0.6) @ rot.T
    colour = _jitter(rng, (60, 120, 170), 25) if rng.random() < 0.5 else _random_colour(rng)
    tape = centre + np.array([[-0.08 * w, -h / 2], [0.08 * w, -h / 2], [0.08 * w, h / 2],
                              [-0.08 * w, h / 2]]) @ rot.T
    top = [front[0], front[1], front[1] + off, front[0] + off]
    side = [front[1], front[1] + off, front[2] + off, front[2]]
    return SceneObject(3, depth, [("poly", front, colour), ("poly", top, _shade(colour, 1.3)),
                                  ("poly", side, _shade(colour, 0.7)),
                                  ("poly", tape, _shade(colour, 1.15))])


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
    grey, white = _jitter(rng, (150, 150, 150), 15), (235, 235, 235)
    bar = top + np.array([[-0.5, -0.1], [0.5, -0.1], [0.5, 0.1], [-0.5, 0.1]]) * plate
    return SceneObject(4, depth, [
        ("poly", pole, grey), ("poly", _regular_polygon(top, plate + 1.2, sides, phase), white),
        ("poly", _regular_polygon(top, plate, sides, phase), _jitter(rng, colour, 10)),
        ("poly", bar, white)])


def make_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A textured background: gradient, smooth noise, maybe stripes, ground and blurred shapes."""
    h, w = size
    xx, yy = np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]
    a = rng.uniform(0, 2 * math.pi)
    ramp = xx * math.cos(a) + yy * math.sin(a)
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    c0, c1 = (np.array(_random_colour(rng, s=(0.0, 0.6), v=(0.2, 0.95)), np.float32)
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
        ground = np.array(_random_colour(rng, s=(0.1, 0.6), v=(0.2, 0.8)), np.float32)
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
            cv2.fillConvexPoly(layer, _fixed(cv2.convexHull(pts.astype(np.float32))[:, 0, :]),
                               _random_colour(rng), cv2.LINE_AA, _SHIFT)
        else:
            end = c + rng.uniform(-0.6, 0.6, 2) * (w, h)
            ends = [tuple(int(v) for v in q) for q in (c, end)]
            cv2.line(layer, *ends, _random_colour(rng), int(rng.integers(2, 8)), cv2.LINE_AA)
    alpha = rng.uniform(0.2, 0.5)
    img[:] = cv2.addWeighted(layer, alpha, img, 1.0 - alpha, 0.0)


# ---------------------------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------------------------

Entity = Person | SceneObject
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class SceneParams:
    """What a random scene may contain."""

    max_people: int = 4
    max_objects: int = 3
    min_person_height: float = 48.0  # px, the figure's longer side at the smallest
    max_person_fraction: float = 0.9  # of the image height, at the largest
    truncation_prob: float = 0.2  # chance that up to about a third of a figure may be cut off
    edge_prob: float = 0.04  # chance that most of a figure may be outside (few labelled joints)


def _box_area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _intersection(a: Box, b: Box) -> float:
    return _box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _fits(box: Box, others: list[Box], max_iou: float, max_cover: float) -> bool:
    """Few and moderate overlaps, so that occlusion happens but people stay recognisable."""
    for o in others:
        inter = _intersection(box, o)
        union = _box_area(box) + _box_area(o) - inter
        smaller = min(_box_area(box), _box_area(o))
        if inter / max(union, 1e-6) > max_iou or inter / max(smaller, 1e-6) > max_cover:
            return False
    return True


def _position(rng: np.random.Generator, lo: float, hi: float, limit: float, slack: float) -> float:
    """A coordinate for an extent [lo, hi] around 0 so that it lies in [-slack, limit + slack]."""
    a, b = -lo - slack, limit - hi + slack
    return float(rng.uniform(a, b)) if b > a else (a + b) / 2


def sample_person(rng: np.random.Generator, size: tuple[int, int], params: SceneParams) -> Person:
    """A random figure, scaled and placed so that it is large enough and (mostly) in view."""
    h, w = size
    pose, (yaw, roll), palette = sample_pose(rng), sample_view(rng), sample_palette(rng)
    build = float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.15))
    unit = Person(pose, yaw, roll, 1.0, (0.0, 0.0), palette, 0.0, build).box()
    uw, uh = unit[2] - unit[0], unit[3] - unit[1]
    s_max = min(0.95 * h / uh, 0.95 * w / uw, params.max_person_fraction * h / uh)
    s_min = min(params.min_person_height / max(uw, uh), s_max)
    scale = float(math.exp(rng.uniform(math.log(s_min), math.log(s_max))))
    u = rng.random()
    cut = u < params.edge_prob + params.truncation_prob
    out = 0.8 if u < params.edge_prob else 0.35 if cut else 0.0  # fraction that may be outside
    cx = _position(rng, unit[0] * scale, unit[2] * scale, w, out * uw * scale)
    cy = _position(rng, unit[1] * scale, unit[3] * scale, h, out * uh * scale)
    depth = math.log(scale) + float(rng.normal(0, 0.25))  # bigger figures tend to be nearer
    return Person(pose, yaw, roll, scale, (cx, cy), palette, depth, build)


def sample_object(rng: np.random.Generator, size: tuple[int, int], depth: float) -> SceneObject:
    """A ball, box or sign of random size somewhere in the image."""
    h, w = size
    m = min(h, w)
    kind = int(rng.integers(3))
    if kind == 0:
        r = rng.uniform(0.025, 0.09) * m
        return make_ball(rng, np.array([rng.uniform(r, w - r), rng.uniform(r, h - r)]), r, depth)
    if kind == 1:
        s = rng.uniform(0.08, 0.22) * m
        return make_box(rng, np.array([rng.uniform(s, w - s), rng.uniform(s, h - s)]), s, depth)
    plate, pole = rng.uniform(0.03, 0.07) * m, rng.uniform(0.15, 0.35) * m
    base = np.array([rng.uniform(plate, w - plate), rng.uniform(pole + plate, h)])
    return make_sign(rng, base, pole, plate, depth)


def _sample_count(rng: np.random.Generator, least: int, most: int) -> int:
    """A count in [least, most], smaller ones likelier (weights 1/2, 1/3, ...)."""
    weights = 1.0 / np.arange(2, most - least + 3)
    return least + int(rng.choice(len(weights), p=weights / weights.sum()))


def sample_scene(rng: np.random.Generator, size: tuple[int, int],
                 params: SceneParams) -> list[Entity]:
    """1 to ``max_people`` figures and up to ``max_objects`` objects, with moderate overlaps."""
    people: list[Person] = []
    for _ in range(_sample_count(rng, 1, params.max_people)):
        for _try in range(12):
            p = sample_person(rng, size, params)
            if _fits(p.box(), [q.box() for q in people], 0.3, 0.55):
                people.append(p)
                break
    depths = [p.depth for p in people]
    objects: list[SceneObject] = []
    for _ in range(_sample_count(rng, 0, params.max_objects)):
        for _try in range(8):
            o = sample_object(rng, size, float(rng.uniform(min(depths) - 0.5, max(depths) + 0.5)))
            b = o.box()
            if (all(_intersection(b, p.box()) <= 0.3 * _box_area(p.box()) for p in people)
                    and _fits(b, [q.box() for q in objects], 0.1, 0.3)):
                objects.append(o)
                break
    return [*people, *objects]


def render_scene(entities: list[Entity], background: np.ndarray) -> Canvas:
    """Draw entities far to near; entity ``i`` (0-based) gets label ``(i + 1) << 5 | part``."""
    canvas = Canvas(background.copy(), np.zeros(background.shape[:2], np.uint16))
    for i in sorted(range(len(entities)), key=lambda k: (entities[k].depth, k)):
        entities[i].draw(canvas, i + 1)
    return canvas


def render_sample(rng: np.random.Generator, size: tuple[int, int],
                  params: SceneParams = SceneParams()) -> tuple[np.ndarray, np.ndarray, list]:
    """One random image (BGR), its label map and its entities."""
    background = make_background(rng, size)
    entities = sample_scene(rng, size, params)
    canvas = render_scene(entities, background)
    img = canvas.image.astype(np.float32)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.8))
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(1, 5))
    img += noise + np.float32(0.5)  # + 0.5: the uint8 cast below then rounds
    return np.clip(img, 0, 255, out=img).astype(np.uint8), canvas.labels, entities


# ---------------------------------------------------------------------------------------------
# Annotations
# ---------------------------------------------------------------------------------------------

_MIN_VISIBLE_AREA = 16  # px; entities hidden more than this are not annotated
_BOX_MARGIN = 2.0  # px around the visible figure


def _polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons (outer contours) of a binary mask."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    crop = mask[y0: ys.max() + 1, x0: xs.max() + 1].astype(np.uint8)
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 0.8, True)[:, 0, :]
        if len(c) >= 3:
            polys.append([float(v) for v in (c + (x0, y0)).reshape(-1)])
    return polys


def _bbox(mask: np.ndarray, keypoints: list[float]) -> list[float]:
    """[x, y, w, h] around the visible pixels and labelled joints, plus a margin, in the image."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    kp = np.array(keypoints, dtype=np.float64).reshape(-1, 3)
    kp = kp[kp[:, 2] > 0, :2]
    x = np.concatenate([xs, kp[:, 0]]) if len(kp) else xs
    y = np.concatenate([ys, kp[:, 1]]) if len(kp) else ys
    x0 = round(max(0.0, float(x.min()) - _BOX_MARGIN), 2)
    y0 = round(max(0.0, float(y.min()) - _BOX_MARGIN), 2)
    x1 = round(min(float(w), float(x.max()) + _BOX_MARGIN), 2)
    y1 = round(min(float(h), float(y.max()) + _BOX_MARGIN), 2)
    return [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)]


def annotate(entities: list[Entity], labels: np.ndarray, image_id: int) -> list[dict[str, Any]]:
    """COCO annotations of the visible entities (persons carry keypoints)."""
    owner = labels >> _PART_BITS
    anns = []
    for i, e in enumerate(entities, 1):
        mask = owner == i
        area = int(mask.sum())
        if area < _MIN_VISIBLE_AREA:
            continue
        kps = e.keypoints(labels, i) if isinstance(e, Person) else []
        bbox = _bbox(mask, kps)
        x, y, bw, bh = bbox
        ann: dict[str, Any] = {
            "id": image_id * _ANNS_PER_IMAGE + i, "image_id": image_id,
            "category_id": e.category_id, "bbox": bbox, "area": float(area), "iscrowd": 0,
            "segmentation": _polygons(mask) or [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]}
        if isinstance(e, Person):
            ann["keypoints"] = kps
            ann["num_keypoints"] = sum(1 for v in kps[2::3] if v > 0)
        anns.append(ann)
    return anns


def _coco_files(images: list[dict], anns: list[dict], seed: int) -> tuple[dict, dict]:
    """The person_keypoints and instances documents of one split."""
    info = {"description": f"hrseg synthetic person keypoints (seed {seed})",
            "version": str(FORMAT_VERSION), "year": 2024,
            "contributor": "hrseg.data.synthetic.pose", "url": "", "date_created": ""}
    people = [a for a in anns if a["category_id"] == PERSON_CATEGORY_ID]
    keypoints = {"info": info, "licenses": [], "images": images, "annotations": people,
                 "categories": [PERSON_CATEGORY]}
    plain = [{k: v for k, v in a.items() if k not in ("keypoints", "num_keypoints")} for a in anns]
    instances = {"info": info, "licenses": [], "images": images, "annotations": plain,
                 "categories": list(INSTANCE_CATEGORIES)}
    return keypoints, instances


# ---------------------------------------------------------------------------------------------
# Dataset generation
# ---------------------------------------------------------------------------------------------

def dataset_paths(root: str | os.PathLike, split: str) -> dict[str, Path]:
    """Where a split's images folder and its two annotation files are."""
    r = Path(root)
    return {"images": r / "images" / split,
            "person_keypoints": r / "annotations" / f"person_keypoints_{split}.json",
            "instances": r / "annotations" / f"instances_{split}.json"}


def _image_id(split: str, index: int) -> int:
    return (0 if split == "train" else _VAL_ID_OFFSET) + index + 1


def _file_name(image_id: int) -> str:
    return f"{image_id:012d}.jpg"


def _split_stats(anns: list[dict], n_images: int) -> dict[str, int]:
    people = [a for a in anns if a["category_id"] == PERSON_CATEGORY_ID]
    vis = [v for a in people for v in a["keypoints"][2::3]]
    return {"images": n_images, "persons": len(people),
            "persons_with_keypoints": sum(1 for a in people if a["num_keypoints"] > 0),
            "keypoints_visible": vis.count(2), "keypoints_occluded": vis.count(1),
            "objects": len(anns) - len(people)}


def _generate_split(root: Path, split: str, count: int, size: tuple[int, int], seed: int,
                    params: SceneParams, jpeg_quality: int, progress_every: int,
                    log: Callable[[str], None] | None) -> dict[str, int]:
    paths = dataset_paths(root, split)
    images, anns = [], []
    start = time.perf_counter()
    for i in range(count):
        image_id = _image_id(split, i)
        rng = np.random.default_rng([seed, SPLITS.index(split), i])  # per image: order-independent
        img, labels, entities = render_sample(rng, size, params)
        name = _file_name(image_id)
        with atomic_path(paths["images"] / name) as tmp:
            if not cv2.imwrite(str(tmp), img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
                raise OSError(f"could not write {paths['images'] / name}")
        images.append({"id": image_id, "file_name": name, "height": size[0], "width": size[1]})
        anns += annotate(entities, labels, image_id)
        if log and progress_every and ((i + 1) % progress_every == 0 or i + 1 == count):
            elapsed = time.perf_counter() - start
            log(f"synthetic_pose: {split} {i + 1}/{count} images ({elapsed:.1f}s)")
    keypoints, instances = _coco_files(images, anns, seed)
    write_json(paths["person_keypoints"], keypoints, indent=None)
    write_json(paths["instances"], instances, indent=None)
    return _split_stats(anns, count)


def _config(num_train: int, num_val: int, image_size: tuple[int, int], seed: int,
            params: SceneParams, jpeg_quality: int) -> dict[str, Any]:
    """The settings that define the dataset, checked; recorded in the completion marker."""
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ConfigError(
            f"synthetic_pose: need a positive number of images, got {num_train} + {num_val}")
    if len(image_size) != 2 or min(image_size) < 64:
        raise ConfigError(
            f"synthetic_pose: image_size (H, W) must be at least 64 x 64, got {image_size}")
    people, objects = params.max_people, params.max_objects
    if people < 1 or objects < 0 or people + objects >= _ANNS_PER_IMAGE:
        raise ConfigError(f"synthetic_pose: need 1 <= max_people and 0 <= max_objects with fewer "
                          f"than {_ANNS_PER_IMAGE} in all, got {people} and {objects}")
    return {"format_version": FORMAT_VERSION, "num_train": int(num_train), "num_val": int(num_val),
            "image_size": [int(image_size[0]), int(image_size[1])], "seed": int(seed),
            "jpeg_quality": int(jpeg_quality), **asdict(params)}


def generate_synthetic_pose(root: str | os.PathLike, num_train: int = 800, num_val: int = 100,
                            image_size: tuple[int, int] = (256, 256), seed: int = 0, *,
                            params: SceneParams = SceneParams(), jpeg_quality: int = 92,
                            progress_every: int = 100,
                            log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Write the synthetic train and val splits under ``root`` and return a summary.

    ``image_size`` is (height, width). The completion marker (``COMPLETE.json``, holding the
    config and per-split counts) is removed first and written last, so an interrupted run is
    recognisably incomplete. Returns the marker's content plus ``root`` and ``seconds``.
    """
    config = _config(num_train, num_val, image_size, seed, params, jpeg_quality)
    root = Path(root)
    marker = root / MARKER_NAME
    marker.unlink(missing_ok=True)
    size = (int(image_size[0]), int(image_size[1]))
    start = time.perf_counter()
    splits = {split: _generate_split(root, split, n, size, seed, params, jpeg_quality,
                                     progress_every, log)
              for split, n in (("train", num_train), ("val", num_val))}
    summary = {"config": config, "splits": splits}
    write_json(marker, summary)
    seconds = time.perf_counter() - start
    if log:
        log(f"synthetic_pose: wrote {num_train} + {num_val} images to {root} in {seconds:.1f}s")
    return {**summary, "root": str(root), "seconds": seconds}


def _is_complete(root: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The marker's content if it matches ``config`` and the files are all there, else None."""
    try:
        summary = json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    if summary.get("config") != config:
        return None
    for split, key in (("train", "num_train"), ("val", "num_val")):
        paths = dataset_paths(root, split)
        if not (paths["person_keypoints"].is_file() and paths["instances"].is_file()):
            return None
        names = (_file_name(_image_id(split, i)) for i in range(config[key]))
        if not all((paths["images"] / name).is_file() for name in names):
            return None
    return summary


def ensure_synthetic_pose(root: str | os.PathLike, num_train: int = 800, num_val: int = 100,
                          image_size: tuple[int, int] = (256, 256), seed: int = 0, *,
                          params: SceneParams = SceneParams(), jpeg_quality: int = 92,
                          progress_every: int = 100,
                          log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Generate the dataset unless a complete one with the same config is already at ``root``."""
    root = Path(root)
    config = _config(num_train, num_val, image_size, seed, params, jpeg_quality)
    summary = _is_complete(root, config)
    if summary is not None:
        return {**summary, "root": str(root), "seconds": 0.0}
    if log and (root / MARKER_NAME).exists():
        log(f"synthetic_pose: {root} is incomplete or was made with other settings; regenerating")
    return generate_synthetic_pose(root, num_train, num_val, image_size, seed, params=params,
                                   jpeg_quality=jpeg_quality, progress_every=progress_every,
                                   log=log)
