"""MOTChallenge text files: detections, ground truth and tracking results.

One box per line, comma separated (spaces after the commas are allowed)::

    <frame>, <id>, <bb_left>, <bb_top>, <bb_width>, <bb_height>, <score>, ...

Frames are 1-based; detection files have id -1; the columns after the seventh are kept as they are
(ground truth: ``<consider flag>, <class>, <visibility>``; results and detections:
``<x>, <y>, <z>``, all -1 in 2D). A line with fewer than six columns, a value that is not a
number, a frame below 1 or a negative width or height is a :class:`~hrseg.errors.DataError`
naming the file and the line. Ground truth and results are read with ``unique_ids=True``: an id
twice in one frame is then a DataError too (TrackEval refuses such a file).

- :func:`read_mot` -> ``list[MotBox]``; :func:`by_frame` groups them by frame.
- :func:`sequence_info` finds the ``seqinfo.ini`` of a file in MOTChallenge's sequence layout
  (``SEQ/det/det.txt`` beside ``SEQ/seqinfo.ini``); :func:`seqinfo_frame_rate` reads its ``frameRate``.
- :func:`write_mot` writes boxes atomically (a reader never sees half a file), sorted by frame
  and id; results get the three -1 columns MOTChallenge's results format has.
"""
from __future__ import annotations

import configparser
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from hrseg.errors import DataError
from hrseg.utils.io import atomic_path

__all__ = ["MotBox", "by_frame", "read_mot", "seqinfo_frame_rate", "sequence_info", "write_mot"]

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


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read this {what}: {e}") from None


def read_mot(path: str | os.PathLike, unique_ids: bool = False) -> list[MotBox]:
    """Every box of a MOTChallenge file, in file order; DataError on a missing file or bad line.
    ``unique_ids`` (ground truth, results): an id twice in one frame is a DataError naming the
    frame, the id and both lines, as TrackEval refuses it; scoring would otherwise count the
    second box in CLEAR and HOTA but not in Identity."""
    p = Path(path)
    boxes: list[MotBox] = []
    first_line: dict[tuple[int, int], int] = {}  # (frame, id) -> the line it is first on
    for i, line in enumerate(_read_text(p, "MOTChallenge file").splitlines(), 1):
        box = _parse(line, p, i)
        if box is None:
            continue
        if unique_ids and (first := first_line.setdefault((box.frame, box.id), i)) != i:
            raise DataError(f"{p}: line {i}: frame {box.frame} has id {box.id} again (first on line {first}); "
                            f"an id is one box a frame (TrackEval refuses such a file)")
        boxes.append(box)
    return boxes


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


SEQINFO = "seqinfo.ini"


def sequence_info(path: str | os.PathLike) -> Path | None:
    """The ``seqinfo.ini`` of the sequence a MOTChallenge file belongs to when it sits in the
    standard layout (``SEQ/det/det.txt``, ``SEQ/gt/gt.txt``: ``SEQ/seqinfo.ini``), else None."""
    folder = Path(path).absolute().parent
    info = folder.parent / SEQINFO
    return info if folder.name in ("det", "gt") and info.is_file() else None


def seqinfo_frame_rate(seqinfo: str | os.PathLike) -> float:
    """``frameRate`` of a MOTChallenge ``seqinfo.ini`` (its ``[Sequence]`` section); DataError
    naming the file when it cannot be read or has no positive frame rate."""
    p = Path(seqinfo)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(_read_text(p, "sequence info file"), source=str(p))
    except configparser.Error as e:
        raise DataError(f"{p}: not a sequence info file: {str(e).splitlines()[0]}") from None
    text = parser.get("Sequence", "frameRate", fallback=None)
    if text is None:
        raise DataError(f"{p}: no frameRate= in a [Sequence] section")
    try:
        value = _number(text)
        if value <= 0:
            raise ValueError(text)
    except ValueError:
        raise DataError(f"{p}: frameRate must be a positive number, got {text!r}") from None
    return value
