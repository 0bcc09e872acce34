"""Steady keypoints in video: a One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) per track
and keypoint coordinate, as mmpose's pose tracker smooths.

The API, for ``hrseg infer pose --track --smooth``::

    smoother = KeypointSmoother(min_cutoff=1.0, beta=0.1)    # the config's test.smooth values
    people = smoother(tracker.update(people))               # copies with smoothed "keypoints"

The filter is a low-pass whose cutoff rises with speed: ``cutoff = min_cutoff + beta * |dx/dt|``
(``dx/dt`` itself low-passed at ``d_cutoff`` = 1 Hz), so a still joint is held steady (low
``min_cutoff``: less jitter, more lag) and a moving one follows (higher ``beta``: less lag when
fast). Time is in frames (``frame_rate`` frames a second, 30 by default), the cutoffs in Hz.

A track's filter starts fresh whenever the track is lost: people without a ``track_id`` in a
frame pass through unchanged, and the state of every track missing from a frame is dropped, so
a track found again (or an id never seen) starts from its raw keypoints. Only x and y are
filtered; scores pass through. A keypoint below ``kpt_thr`` in a frame is passed raw, and so is
the same keypoint in the frame it reappears: its filter starts again there (a hidden joint's
position is a guess the reappearing one must not be pulled to).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from hrseg.inference.tracking import keypoint_array

__all__ = ["KeypointSmoother", "OneEuroFilter"]


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroFilter:
    """The One-Euro filter over an array of values (all filtered alike, independently)."""

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    dt: float = 1.0 / 30

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0 or self.dt <= 0:
            raise ValueError(f"One-Euro filter: min_cutoff, d_cutoff and dt must be > 0 and beta >= 0, got "
                             f"{self.min_cutoff}, {self.d_cutoff}, {self.dt} and {self.beta}")
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    def __call__(self, x: np.ndarray, restart: np.ndarray | None = None) -> np.ndarray:
        """The filtered ``x``; where ``restart`` is True the filter starts again from ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or self.x.shape != x.shape:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self.x) / self.dt
        self.dx = self.dx + _alpha(self.d_cutoff, self.dt) * (dx - self.dx)
        a = _alpha(self.min_cutoff + self.beta * np.abs(self.dx), self.dt)
        out = self.x + a * (x - self.x)
        if restart is not None:
            out = np.where(restart, x, out)
            self.dx = np.where(restart, 0.0, self.dx)
        self.x = out
        return out.copy()


class KeypointSmoother:
    """One :class:`OneEuroFilter` per track over its keypoints' x and y (module docstring). The
    defaults, 1 Hz and 0.1, cut the jitter of noisy keypoints by more than half with the least
    error of the settings docs/video.md compares."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.1, d_cutoff: float = 1.0,
                 frame_rate: float = 30.0, kpt_thr: float = 0.3) -> None:
        OneEuroFilter(min_cutoff, beta, d_cutoff, 1.0 / frame_rate)  # checks the settings now
        self.settings = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff, dt=1.0 / frame_rate)
        self.kpt_thr = kpt_thr
        self.filters: dict[Any, OneEuroFilter] = {}
        self.unseen: dict[Any, np.ndarray] = {}  # per track: the keypoints under kpt_thr last frame

    def __call__(self, people: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Copies of ``people`` whose tracked ones have smoothed keypoints, in the form they came."""
        out, seen = [], set()
        for person in people:
            track, kpts = person.get("track_id"), person.get("keypoints")
            if track is None or not kpts:
                out.append(dict(person))
                continue
            seen.add(track)
            arr = keypoint_array(kpts)
            f = self.filters.setdefault(track, OneEuroFilter(**self.settings))
            low = arr[:, 2] < self.kpt_thr
            restart = low | self.unseen.get(track, np.zeros_like(low))  # unseen now, or just reappeared
            self.unseen[track] = low
            xy = f(arr[:, :2], restart=np.repeat(restart[:, None], 2, axis=1))
            out.append({**person, "keypoints": _like(kpts, np.concatenate([xy, arr[:, 2:]], axis=1))})
        self.filters = {t: f for t, f in self.filters.items() if t in seen}  # lost: start afresh
        self.unseen = {t: u for t, u in self.unseen.items() if t in seen}
        return out

    def reset(self) -> None:
        self.filters.clear()
        self.unseen.clear()


def _like(original: Any, arr: np.ndarray) -> Any:
    """``arr`` (K, 3) in the form ``original`` had: a name -> [x, y, s] dict, nested or flat list."""
    rows = [[float(v) for v in row] for row in arr]
    if isinstance(original, Mapping):
        return dict(zip(original, rows))
    if len(original) and not isinstance(original[0], (list, tuple, np.ndarray)):
        return [v for row in rows for v in row]
    return rows
