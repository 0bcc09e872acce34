"""The figures' body model: a 3D stick body (pelvis, bendable spine, two-segment arms and legs, a
head with a face on one side), its joint angles (:class:`Pose`), random poses and views, and
the orthographic projection into the image.

Units: standing height = 1; X = the figure's left, Y = down, Z = forward. The body parts are
the low :data:`PART_BITS` bits of a scene's label map (``entity << PART_BITS | part``);
:data:`POINT_PARTS` says, for each body point a keypoint can be read from, which parts' pixels
show it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BODY", "FACE_LOCAL", "FACE_MIN_DEPTH", "FOOT", "FOREARM", "HAIR", "HAND", "HEAD", "NECK",
           "PART_BITS", "POINT_PARTS", "SHIN", "THIGH", "TORSO", "UPPER_ARM", "Pose", "body_points",
           "project", "sample_pose", "sample_view"]

BODY = {
    "spine": 0.30, "neck": 0.125, "shoulder_hw": 0.115, "hip_hw": 0.08,
    "upper_arm": 0.165, "forearm": 0.15, "thigh": 0.235, "shin": 0.225, "foot": 0.065,
    "head_rh": 0.05, "head_rv": 0.062,
}
# Face points on the unit head sphere (x = left, y = down, z = forward).
FACE_LOCAL = {
    "nose": (0.0, 0.15, 0.95), "left_eye": (0.38, -0.12, 0.88), "right_eye": (-0.38, -0.12, 0.88),
    "left_ear": (1.0, 0.0, -0.05), "right_ear": (-1.0, 0.0, -0.05),
}
# A face point is labelled only when its depth toward the camera (in head radii) exceeds this.
FACE_MIN_DEPTH = {"nose": -0.25, "left_eye": -0.1, "right_eye": -0.1,
                  "left_ear": -0.45, "right_ear": -0.45}

# Body parts: the low 5 bits of the label map.
TORSO, HEAD, NECK = 0, 1, 2
HAIR = 15  # part of the head, labelled apart for human parsing (hrseg.data.synthetic.lip)
UPPER_ARM, FOREARM, HAND, THIGH, SHIN, FOOT = (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14)
PART_BITS = 5


def _point_parts() -> dict[str, frozenset[int]]:
    """For each body point a keypoint can be read from, the body parts whose pixels show it: the
    17 COCO joints (face points on the head, a shoulder on its upper arm or the torso, ...) and
    the head centre, neck, pelvis, hands and toes."""
    parts = {name: frozenset({HEAD, HAIR}) for name in FACE_LOCAL}
    parts.update(head=frozenset({HEAD, HAIR}), neck=frozenset({NECK, HEAD, TORSO}),
                 pelvis=frozenset({TORSO, *THIGH}))
    for point, pair in (("shoulder", (UPPER_ARM, TORSO)), ("elbow", (UPPER_ARM, FOREARM)),
                        ("wrist", (FOREARM, HAND)), ("hip", (THIGH, TORSO)), ("knee", (THIGH, SHIN)),
                        ("ankle", (SHIN, FOOT)), ("hand", (HAND, HAND)), ("toe", (FOOT, FOOT))):
        for side, name in enumerate(("left", "right")):
            parts[f"{name}_{point}"] = frozenset(p if isinstance(p, int) else p[side] for p in pair)
    return parts


POINT_PARTS = _point_parts()


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
    """3D positions of the 17 COCO joints plus the helper points the drawing needs.

    ``build`` scales the shoulder and hip width (slim to broad figures).
    """
    b = BODY
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
    for name, local in FACE_LOCAL.items():
        p[name] = p["head"] + _rot_y(np.array(local) * radii, yaw)
    p["hair"] = p["head"] + _rot_y(_HAIR_LOCAL * radii, yaw)
    return p


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


# -- random poses and views ---------------------------------------------------------------------

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
