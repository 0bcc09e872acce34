"""Colours of the figure scenes (BGR int tuples, as OpenCV writes the images): random ones,
jittered, shaded and clipped."""
from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

__all__ = ["Colour", "clip_colour", "jitter", "pick", "random_colour", "shade"]

Colour = tuple[int, int, int]  # BGR, as the images are written by OpenCV


def jitter(rng: np.random.Generator, colour: Colour, amount: float = 12) -> Colour:
    return clip_colour(c + rng.normal(0, amount) for c in colour)


def clip_colour(values: Any) -> Colour:
    return tuple(min(255, max(0, int(c))) for c in values)  # type: ignore[return-value]


def random_colour(rng: np.random.Generator, s: tuple[float, float] = (0.3, 0.9),
                  v: tuple[float, float] = (0.3, 0.95)) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v))
    return int(b * 255), int(g * 255), int(r * 255)


def pick(rng: np.random.Generator, options: tuple[Colour, ...]) -> Colour:
    return options[int(rng.integers(len(options)))]


def shade(colour: Colour, factor: float) -> Colour:
    return clip_colour(c * factor for c in colour)
