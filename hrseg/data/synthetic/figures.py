"""The figures: a posed, coloured, placed body (:class:`Person`) that draws itself part by part
from far to near and reads its keypoints off the finished label map.

Learnable cues, as clothing and faces give in photographs: the face (skin, eyes, nose) shows
front from back and so which side is the figure's left; the left limbs wear a lighter tone of
the clothing colour and the right limbs a darker one. The tone cue is not flip-invariant:
training with horizontal flips (which swaps left and right labels) turns it into noise, while
the face cue stays valid.

Keypoints follow what COCO annotators do, read off the rendered picture rather than guessed:
a point is ``v=2`` when the topmost pixel under it belongs to one of its own parts
(:data:`~hrseg.data.synthetic.body.POINT_PARTS`), ``v=1`` when something else covers it, and
``v=0`` at (0, 0) when it lies outside the image or is a face point turned away from the camera.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from hrseg.data.synthetic.body import (
    BODY, FACE_LOCAL, FACE_MIN_DEPTH, FOOT, FOREARM, HAIR, HAND, HEAD, NECK, PART_BITS, POINT_PARTS, SHIN, THIGH,
    TORSO, UPPER_ARM, Pose, body_points, project,
)
from hrseg.data.synthetic.canvas import Canvas
from hrseg.data.synthetic.colours import Colour, jitter, pick, random_colour, shade
from hrseg.meta.keypoints import KEYPOINT_NAMES, PERSON_CATEGORY_ID

__all__ = ["Palette", "Person", "draw_limb", "sample_palette"]

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


def sample_palette(rng: np.random.Generator) -> Palette:
    pants = pick(rng, _PANTS) if rng.random() < 0.5 else random_colour(rng)
    return Palette(skin=jitter(rng, pick(rng, _SKIN)), hair=jitter(rng, pick(rng, _HAIR)),
                   shirt=random_colour(rng), pants=jitter(rng, pants),
                   shoes=jitter(rng, pick(rng, _SHOES)),
                   long_sleeves=bool(rng.random() < 0.5), shorts=bool(rng.random() < 0.25))


def _tone(colour: Colour, side: int, strength: float = 0.3) -> Colour:
    """Side 0 (left) lighter, side 1 (right) darker: the consistent left/right clothing cue."""
    c = np.array(colour, dtype=np.float64)
    c = c + (255 - c) * strength if side == 0 else c * (1 - strength)
    return tuple(int(round(x)) for x in c)  # type: ignore[return-value]


def draw_limb(canvas: Canvas, a: np.ndarray, b: np.ndarray, wa: float, wb: float, colour: Colour,
              label: int | None) -> None:
    """A tapered segment with round ends and a dark outline (so crossing limbs stay apart)."""
    for grow, col in ((1.0, shade(colour, 0.55)), (0.0, colour)):
        canvas.capsule(a, b, wa / 2 + grow, wb / 2 + grow, col, label if grow else None)


@dataclass
class Person:
    """A posed, placed figure (:func:`~hrseg.data.synthetic.scenes.sample_person` makes random ones)."""

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
        base = entity << PART_BITS
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
            draw_limb(canvas, self.xy[a], self.xy[b], wa * s, wb * s, colour, base | part)
        return draw

    def _draw_torso(self, canvas: Canvas, base: int) -> None:
        xy, _ = project(self._torso_corners(), self.yaw, self.roll, self.scale, self.centre)
        hull = cv2.convexHull(xy.astype(np.float32))[:, 0, :]
        canvas.polygon(hull, shade(self.palette.shirt, 0.55), base | TORSO)
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
        axes = (BODY["head_rh"] * s, BODY["head_rv"] * s)
        outline = (axes[0] + 0.7, axes[1] + 0.7)
        canvas.ellipse(xy["head"], outline, shade(pal.skin, 0.6), label, angle=self.roll)
        canvas.ellipse(xy["head"], axes, pal.skin, None, angle=self.roll)
        facing = self._face_depths()
        hair = xy["hair"][self.t["hair"] > self.t["head"] + 0.1 * axes[0]]  # the side facing us
        if len(hair) >= 3:
            canvas.polygon(cv2.convexHull(hair.astype(np.float32))[:, 0, :], pal.hair, base | HAIR)
        for ear in ("left_ear", "right_ear"):
            if facing[ear] > -0.3:
                ear_axes = (0.012 * s, 0.018 * s)
                canvas.ellipse(xy[ear], ear_axes, shade(pal.skin, 0.85), label, angle=self.roll)
        for eye in ("left_eye", "right_eye"):
            if facing[eye] > 0.0:
                canvas.disc(xy[eye], max(0.8, 0.009 * s), (25, 25, 25), label)
        if facing["nose"] > -0.25:
            canvas.disc(xy["nose"], max(0.8, 0.009 * s), shade(pal.skin, 0.7), label)

    def _face_depths(self) -> dict[str, float]:
        """Depth of each face point toward the camera relative to the head centre, in head radii."""
        r = BODY["head_rh"] * self.scale
        return {k: (self.t[k] - self.t["head"]) / r for k in FACE_LOCAL}

    def keypoints(self, labels: np.ndarray, entity: int,
                  points: Sequence[str] = KEYPOINT_NAMES) -> list[float]:
        """COCO [x, y, v] of each of ``points`` (body point names, :data:`POINT_PARTS`; the 17
        COCO joints by default) read off the finished label map."""
        h, w = labels.shape
        face = self._face_depths()
        out: list[float] = []
        for name in points:
            x, y = (round(float(c), 2) for c in self.xy[name])
            labelled = face[name] > FACE_MIN_DEPTH[name] if name in face else True
            if not (labelled and 0 <= x <= w - 1 and 0 <= y <= h - 1):
                out += [0, 0, 0]
                continue
            out += [x, y, 2 if self._shows(name, int(labels[round(y), round(x)]), entity) else 1]
        return out

    def _shows(self, name: str, label: int, entity: int) -> bool:
        """Whether the topmost pixel at point ``name`` is one of its own parts, in front of it."""
        if label >> PART_BITS != entity or (label & 31) not in POINT_PARTS[name]:
            return False
        if label & 31 != TORSO or not name.endswith(("_shoulder", "_hip")):
            return True
        # A shoulder or hip on the far side of the body is covered by the torso, not shown by it.
        half_width = BODY["shoulder_hw" if "shoulder" in name else "hip_hw"] * self.scale
        return self.t[name] >= self.t["pelvis"] - 0.75 * half_width
