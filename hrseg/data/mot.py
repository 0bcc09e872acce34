"""MOTChallenge text files: detections, ground truth and tracking results.

One box per line, comma separated (spaces after the commas are allowed)::

    <frame>, <id>, <bb_left>, <bb_top>, <bb_width>, <bb_height>, <score>, ...

Frames are 1-based; detection files have id -1; the columns after the seventh are kept as they are
(ground truth: ``<consider flag>, <class>, <visibility>``; results and detections:
``<x>, <y>, <z>``, all -1 in 2D). A line with fewer than six columns, a value that is not a
number, a frame below 1 or a negative width or height is a :class:`~hrseg.errors.DataError`
naming the file and the line.

- :func:`read_mot` -> ``list[MotBox]``; :func:`by_frame` groups them by frame.
- :func:`write_mot` writes boxes atomically (a reader never sees half a file), sorted by frame
  and id; results get the three -1 columns MOTChallenge's results format has.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from hrseg.errors import DataError
from hrseg.utils.io import atomic_path

__all__ = ["MotBox", "by_frame", "read_mot", "write_mot"]

RESULT_TAIL = (-1.0, -1.0, -1.0)  # <x>, <y>, <z> of a 2D result


@dataclass(frozen=True)
class MotBox:
    """One line: frame (1-based), id (-1 for a detection), box [x, y, w, h] in pixels, score
    (ground truth: the consider flag) and the columns after it."""

    frame: int
    id: int
    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    rest: tuple[float, ...] = ()

    @property
    def xywh(self) -> list[float]:
        return [self.x, self.y, self.w, self.h]

    @property
    def visibility(self) -> float | None:
        """Ground truth's visibility ratio (the ninth column), None when the line has none."""
        return self.rest[1] if len(self.rest) >= 2 else None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(text) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _parse(line: str, path: Path, number: int) -> MotBox | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    cells = [c.strip() for c in text.split(",")]
    while cells and cells[-1] == "":
        cells.pop()
    where = f"{path}: line {number}"
    if len(cells) < 6:
        raise DataError(f"{where}: expected at least 6 comma-separated columns "
                        f"(frame,id,x,y,w,h[,score,...]), got {len(cells)}: {text!r}")
    try:
        values = [_number(c) for c in cells]
    except ValueError as e:
        raise DataError(f"{where}: not a number: {e.args[0]!r} in {text!r}") from None
    frame, ident = values[0], values[1]
    if frame != int(frame) or frame < 1:
        raise DataError(f"{where}: the frame must be a whole number from 1 (frames are 1-based), got {cells[0]}")
    if ident != int(ident):
        raise DataError(f"{where}: the id must be a whole number (-1 for a detection), got {cells[1]}")
    if values[4] < 0 or values[5] < 0:
        raise DataError(f"{where}: negative box width or height in {text!r}")
    return MotBox(int(frame), int(ident), *values[2:6], score=values[6] if len(values) > 6 else 1.0,
                  rest=tuple(values[7:]))


def read_mot(path: str | os.PathLike) -> list[MotBox]:
    """Every box of a MOTChallenge file, in file order; DataError on a missing file or bad line."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"{p}: MOTChallenge file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: cannot read this MOTChallenge file: {e}") from None
    return [box for i, line in enumerate(lines, 1) if (box := _parse(line, p, i)) is not None]


def by_frame(boxes: Iterable[MotBox]) -> dict[int, list[MotBox]]:
    """Boxes grouped by frame, frames in increasing order."""
    frames: dict[int, list[MotBox]] = defaultdict(list)
    for b in boxes:
        frames[b.frame].append(b)
    return dict(sorted(frames.items()))


def _cell(value: float) -> str:
    """A number as short as it reads: 3, 12.5, 0.8731 (four decimals at most)."""
    return f"{value:.4f}".rstrip("0").rstrip(".") if not float(value).is_integer() else str(int(value))


def write_mot(path: str | os.PathLike, boxes: Iterable[MotBox], results: bool = True) -> Path:
    """Write ``boxes`` sorted by frame and id, atomically. ``results``: lines without columns
    after the score get MOTChallenge's ``-1,-1,-1``; ground truth keeps its own columns."""
    lines = []
    for b in sorted(boxes, key=lambda b: (b.frame, b.id)):
        tail = b.rest if b.rest or not results else RESULT_TAIL
        values = (b.frame, b.id, b.x, b.y, b.w, b.h, b.score, *tail)
        lines.append(",".join(_cell(v) for v in values))
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return Path(path)
