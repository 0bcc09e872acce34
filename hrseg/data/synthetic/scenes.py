"""Random figure scenes: 1 to ``max_people`` people and a few objects on a textured background,
placed with moderate overlaps and drawn far to near into one canvas (label ``entity << 5 | part``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from hrseg.data.synthetic.body import sample_pose, sample_view
from hrseg.data.synthetic.canvas import Canvas
from hrseg.data.synthetic.figures import Person, sample_palette
from hrseg.data.synthetic.objects import SceneObject, make_background, make_ball, make_box, make_sign

__all__ = ["Entity", "SceneParams", "render_sample", "render_scene", "sample_object", "sample_person",
           "sample_scene"]

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
