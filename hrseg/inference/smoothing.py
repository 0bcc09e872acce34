"""Steady keypoints in video: a filter per track and keypoint coordinate, either a constant-velocity
Kalman filter (the default) or the One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) that
mmpose's pose tracker uses.

The API, for ``hrseg infer pose --track --smooth``::

    smoother = KeypointSmoother()                            # the config's test.smooth values
    smoother = KeypointSmoother(filter="one_euro", min_cutoff=1.0, beta=0.1)
    people = smoother(tracker.update(people))               # copies with smoothed "keypoints"

Why the Kalman filter is the default (docs/video.md): a first-order low-pass such as One-Euro
lags a joint that moves at constant speed (a walking person's every joint), and the lag is what
costs keypoint AP; a constant-velocity model follows steady motion without lag and removes the
frame-to-frame noise around it. On the synthetic videos with a trained pose model it halved the
jitter for under 0.01 AP, where One-Euro's settings cut 35-45% for 0.007-0.025.

``filter="kalman"``: per coordinate, the state is position and velocity (pixels, pixels a frame);
``process_noise`` is the variance of the acceleration a frame (pixels^2 / frame^4),
``measurement_noise`` the variance of a keypoint's error (pixels^2); only their ratio matters once
the filter has settled. A keypoint's measurement noise is ``measurement_noise / score **
score_weight`` (its score clipped to [0.05, 1]): the pose model's confidence says how far to trust
this frame's position, so a sure joint follows its measurement and an unsure one its motion
(``score_weight`` 0: the same noise for all). ``joint_noise`` (one value per keypoint, None: all
alike) spreads ``process_noise`` over the joints in these proportions (scaled to mean 1): in a
walk the head and hips move at a steady speed while the wrists and ankles swing, start and stop,
so one process noise for all either lags the ankles (keypoint AP lost) or leaves the head
jittering. :func:`joint_motion` measures the proportions on ground-truth tracks.

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
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from hrseg.errors import ConfigError
from hrseg.inference.person_boxes import keypoint_array

__all__ = ["FILTERS", "ConstantVelocityFilter", "KeypointSmoother", "OneEuroFilter", "SmoothingSettingError",
           "check_settings", "joint_motion", "second_differences"]


class SmoothingSettingError(ConfigError, ValueError):
    """A bad ``test.smooth`` setting: hrseg's one-line ConfigError, and the ValueError it was before."""


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


class ConstantVelocityFilter:
    """A Kalman filter over an array of values, each with a constant-velocity state (position,
    velocity a frame), filtered independently; :class:`OneEuroFilter`'s interface. ``process_noise``:
    one value for all, or per keypoint (K, 1) for (K, 2) values."""

    def __init__(self, process_noise: float = 0.6, measurement_noise: float = 4.0) -> None:
        if np.any(np.asarray(process_noise) <= 0) or measurement_noise <= 0:
            raise ValueError(f"Kalman filter: process_noise and measurement_noise must be > 0, got "
                             f"{process_noise} and {measurement_noise}")
        self.q, self.r = np.asarray(process_noise, dtype=np.float64), float(measurement_noise)
        self.x: np.ndarray | None = None

    def _start(self, x: np.ndarray) -> None:
        """State at ``x``, still, its position as uncertain as a measurement and its speed unknown."""
        self.x, self.v = x.copy(), np.zeros_like(x)
        self.pxx, self.pxv, self.pvv = np.full_like(x, self.r), np.zeros_like(x), np.full_like(x, 100.0)

    def __call__(self, x: np.ndarray, restart: np.ndarray | None = None,
                 noise_scale: np.ndarray | None = None) -> np.ndarray:
        """The filtered ``x``; where ``restart`` is True the filter starts again from ``x``;
        ``noise_scale`` (like ``x``) multiplies this measurement's noise."""
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or self.x.shape != x.shape:
            self._start(x)
            return x.copy()
        q = self.q  # predict one frame ahead, then correct with the measurement x
        r = self.r if noise_scale is None else self.r * np.asarray(noise_scale, dtype=np.float64)
        pred = self.x + self.v
        pxx = self.pxx + 2 * self.pxv + self.pvv + q / 4
        pxv, pvv = self.pxv + self.pvv + q / 2, self.pvv + q
        kx, kv = pxx / (pxx + r), pxv / (pxx + r)
        innovation = x - pred
        out, v = pred + kx * innovation, self.v + kv * innovation
        pxx, pxv, pvv = (1 - kx) * pxx, (1 - kx) * pxv, pvv - kv * pxv
        if restart is not None and restart.any():
            state = (out, v, pxx, pxv, pvv)
            self._start(x)
            out, v, pxx, pxv, pvv = (np.where(restart, new, old) for new, old in
                                     zip((self.x, self.v, self.pxx, self.pxv, self.pvv), state))
        self.x, self.v, self.pxx, self.pxv, self.pvv = out, v, pxx, pxv, pvv
        return out.copy()


FILTERS = ("kalman", "one_euro")
_ABOVE_ZERO, _AT_LEAST_ZERO = ("process_noise", "measurement_noise", "min_cutoff"), ("score_weight", "beta")


def check_settings(filter: str = "kalman", joint_noise: Sequence[float] | None = None, **numbers: Any) -> None:
    """The settings of a config's ``test.smooth`` (:class:`KeypointSmoother`'s): a
    :class:`SmoothingSettingError` naming the key of the first bad one (``filter`` one of
    :data:`FILTERS`; ``process_noise``, ``measurement_noise``, ``min_cutoff`` above 0;
    ``score_weight``, ``beta`` at least 0; ``joint_noise`` None or positive numbers)."""
    if filter not in FILTERS:
        raise SmoothingSettingError(f"test.smooth.filter must be one of {', '.join(FILTERS)}, not {filter!r}")
    for name, value in numbers.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if name in _ABOVE_ZERO and not (number and value > 0):
            raise SmoothingSettingError(f"test.smooth.{name} must be a number above 0, got {value!r}")
        if name in _AT_LEAST_ZERO and not (number and value >= 0):
            raise SmoothingSettingError(f"test.smooth.{name} must be a number at least 0, got {value!r}")
    if joint_noise is not None:
        try:
            _proportions(joint_noise)
        except ValueError as e:
            raise SmoothingSettingError(f"test.smooth.joint_noise {e}") from None


class KeypointSmoother:
    """One filter per track over its keypoints' x and y (module docstring): the constant-velocity
    Kalman filter (``filter="kalman"``, ``process_noise``, ``measurement_noise``) or the One-Euro
    filter (``"one_euro"``, ``min_cutoff`` Hz, ``beta``, ``d_cutoff``); the Kalman filter trusts
    each keypoint by its score (``score_weight``) and may give each joint its share of the process
    noise (``joint_noise``, module docstring). The defaults are the settings docs/video.md
    chose on training sequences."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.1, d_cutoff: float = 1.0,
                 frame_rate: float = 30.0, kpt_thr: float = 0.3, filter: str = "kalman",
                 process_noise: float = 1.2, measurement_noise: float = 4.0, score_weight: float = 2.0,
                 joint_noise: Sequence[float] | None = None) -> None:
        check_settings(filter, joint_noise, min_cutoff=min_cutoff, beta=beta, process_noise=process_noise,
                       measurement_noise=measurement_noise, score_weight=score_weight)
        shares = None if joint_noise is None or filter != "kalman" else _proportions(joint_noise)
        if filter == "kalman":
            q = process_noise if shares is None else process_noise * shares
            self.make = lambda: ConstantVelocityFilter(q, measurement_noise)
        else:
            self.one_euro = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff, dt=1.0 / frame_rate)
            self.make = lambda: OneEuroFilter(**self.one_euro)
        self.make()  # checks the other settings (d_cutoff, frame_rate) now
        self.kpt_thr, self.frame_rate = kpt_thr, frame_rate
        self.joints = None if shares is None else len(shares)
        self.score_weight = float(score_weight) if filter == "kalman" else 0.0
        self.filters: dict[Any, OneEuroFilter | ConstantVelocityFilter] = {}
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
            if self.joints is not None and len(arr) != self.joints:
                raise ValueError(f"keypoint smoothing: joint_noise has {self.joints} values, a person has "
                                 f"{len(arr)} keypoints")
            f = self.filters.get(track) or self.filters.setdefault(track, self.make())
            low = arr[:, 2] < self.kpt_thr
            restart = low | self.unseen.get(track, np.zeros_like(low))  # unseen now, or just reappeared
            self.unseen[track] = low
            restart_xy = np.repeat(restart[:, None], 2, axis=1)
            if self.score_weight:
                scale = np.repeat(np.clip(arr[:, 2:3], 0.05, 1.0) ** -self.score_weight, 2, axis=1)
                xy = f(arr[:, :2], restart=restart_xy, noise_scale=scale)
            else:
                xy = f(arr[:, :2], restart=restart_xy)
            out.append({**person, "keypoints": _like(kpts, np.concatenate([xy, arr[:, 2:]], axis=1))})
        self.filters = {t: f for t, f in self.filters.items() if t in seen}  # lost: start afresh
        self.unseen = {t: u for t, u in self.unseen.items() if t in seen}
        return out

    def reset(self, frame_rate: float | None = None) -> None:
        """Forget every track's filter (a new video); ``frame_rate``: the new video's, when known
        (the One-Euro filter's time step; the Kalman filter's time is in frames)."""
        if hasattr(self, "one_euro"):
            self.one_euro["dt"] = 1.0 / float(frame_rate or self.frame_rate)
        self.filters.clear()
        self.unseen.clear()


def _proportions(joint_noise: Sequence[float]) -> np.ndarray:
    """``joint_noise`` as a (K, 1) column of mean 1 (one factor for a keypoint's x and y)."""
    try:
        values = np.asarray(joint_noise, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        values = np.zeros(0)
    if not len(values) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"must be positive numbers, one per keypoint, got {joint_noise}")
    return (values / values.mean())[:, None]


def second_differences(series: Mapping[tuple[int, Any], np.ndarray], visible: Callable[[tuple[int, Any]], np.ndarray]
                       ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each (frame, track) of ``series`` (-> keypoints (K, >= 2)) with the frames before and
    after it: which keypoints ``visible`` says are seen in all three, and x[t+1] - 2 x[t] + x[t-1]
    (K, 2): the motion a constant velocity does not explain (acceleration, or jitter)."""
    for (frame, track), now in series.items():
        before, after = series.get((frame - 1, track)), series.get((frame + 1, track))
        if before is not None and after is not None:
            seen = visible((frame - 1, track)) & visible((frame, track)) & visible((frame + 1, track))
            yield seen, after[:, :2] - 2 * now[:, :2] + before[:, :2]


def joint_motion(tracks: Mapping[tuple[int, Any], np.ndarray]) -> list[float]:
    """Each joint's share of the motion in ground-truth tracks, as ``joint_noise`` takes it: the
    mean squared second difference of its position (its acceleration, pixels a frame^2, over the
    frames where it is labelled in three consecutive ones), scaled to mean 1. ``tracks``: (frame,
    track id) -> keypoints (K, 3), a keypoint labelled where its third value is > 0."""
    total, count = 0.0, 0.0
    for seen, second in second_differences(tracks, lambda key: tracks[key][:, 2] > 0):
        total, count = total + np.where(seen, (second ** 2).sum(axis=1), 0.0), count + seen
    if np.any(np.asarray(count) == 0):
        raise ValueError("joint_motion: a keypoint is never labelled in three consecutive frames of a track")
    motion = total / count
    return [float(v) for v in motion / motion.mean()]


def _like(original: Any, arr: np.ndarray) -> Any:
    """``arr`` (K, 3) in the form ``original`` had: a name -> [x, y, s] dict, nested or flat list."""
    rows = [[float(v) for v in row] for row in arr]
    if isinstance(original, Mapping):
        return dict(zip(original, rows))
    if len(original) and not isinstance(original[0], (list, tuple, np.ndarray)):
        return [v for row in rows for v in row]
    return rows
