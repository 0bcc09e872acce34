"""Generate-once for the synthetic datasets: the one place that decides whether a dataset under a
root is complete, and that writes it so that an interrupted run is recognisably incomplete.

A dataset is complete when its marker (``COMPLETE.json``) records the same config (settings and
format version) and every file the config writes is there. Generating removes the marker first,
then the files a previous run with other settings left behind (in the folders and with the
suffixes this dataset writes), writes the splits (each file atomically) and writes the marker
last. :func:`hrseg.tasks.common.generate_once` runs :meth:`SyntheticSplits.ensure` on rank 0
only.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import cv2
import numpy as np

from hrseg.errors import ConfigError
from hrseg.utils.io import atomic_path, write_json

__all__ = ["MARKER_NAME", "SPLITS", "Progress", "SyntheticSplits", "check_counts", "to_stderr", "write_jpeg"]

MARKER_NAME = "COMPLETE.json"
SPLITS = ("train", "val")
Log = Callable[[str], None]


def to_stderr(message: str) -> None:
    """The generators' progress lines: on stderr, so a command's stdout stays its result (JSON)."""
    print(message, file=sys.stderr, flush=True)


def check_counts(name: str, num_train: int, num_val: int, size: tuple[int, int], smallest: int,
                 size_key: str = "size") -> tuple[int, int]:
    """Raise a ConfigError unless the counts are usable and ``size`` (H, W) is at least ``smallest``
    on both sides; returns the size as ints."""
    if num_train < 0 or num_val < 0 or num_train + num_val == 0:
        raise ConfigError(f"{name}: need a positive number of images, got {num_train} + {num_val}")
    if len(size) != 2 or min(size) < smallest:
        raise ConfigError(f"{name}: {size_key} (H, W) must be at least {smallest} x {smallest}, got {size}")
    return int(size[0]), int(size[1])


def write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    """Write a BGR image as JPEG, atomically."""
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError(f"could not write {path}")


@dataclass
class Progress:
    """Logs ``name: split done/count images (seconds)`` every ``every`` images and at a split's end."""

    name: str
    log: Log | None
    every: int
    start: float = field(default_factory=time.perf_counter)

    def __call__(self, split: str, done: int, count: int) -> None:
        if self.log and self.every and (done % self.every == 0 or done == count):
            self.log(f"{self.name}: {split} {done}/{count} images ({time.perf_counter() - self.start:.1f}s)")


@dataclass(frozen=True)
class SyntheticSplits:
    """A generated dataset: its train and val splits under ``root``, made for ``settings``.

    ``files(split, count)`` lists the files a complete split of ``count`` images has;
    ``write(split, count, progress)`` writes them (calling ``progress(split, i + 1, count)`` after
    each image) and returns the split's statistics, or None. With statistics the marker holds
    ``{"config": ..., "splits": {split: statistics}}``, else the config alone.
    """

    name: str
    root: Path
    version: int
    settings: dict[str, Any]
    counts: dict[str, int]
    files: Callable[[str, int], Iterable[Path]]
    write: Callable[[str, int, Progress], dict[str, Any] | None]

    @property
    def config(self) -> dict[str, Any]:
        return {"format_version": self.version, **self.settings}

    @property
    def marker(self) -> Path:
        return self.root / MARKER_NAME

    def expected(self) -> list[Path]:
        return [p for split, count in self.counts.items() for p in self.files(split, count)]

    def recorded(self) -> dict[str, Any] | None:
        """The marker's content when it records this config and every file is there, else None."""
        try:
            content = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return None
        config = content.get("config") if isinstance(content, dict) and "splits" in content else content
        if config != self.config or not all(p.is_file() for p in self.expected()):
            return None
        return content

    def ensure(self, log: Log | None = to_stderr, progress_every: int = 100) -> dict[str, Any]:
        """Generate unless complete; returns the marker's content with ``root`` and ``seconds``."""
        content = self.recorded()
        if content is not None:
            return {**content, "root": str(self.root), "seconds": 0.0}
        if log and self.marker.exists():
            log(f"{self.name}: {self.root} is incomplete or was made with other settings; regenerating")
        return self.generate(log, progress_every)

    def generate(self, log: Log | None = to_stderr, progress_every: int = 100) -> dict[str, Any]:
        """Write the splits (the marker removed first, written last) and return the marker's
        content with ``root`` and ``seconds``."""
        self.marker.unlink(missing_ok=True)
        self.remove_stale()
        progress = Progress(self.name, log, progress_every)
        stats = {split: self.write(split, count, progress) for split, count in self.counts.items()}
        content = self.config if all(s is None for s in stats.values()) else {"config": self.config,
                                                                              "splits": stats}
        write_json(self.marker, content)
        seconds = time.perf_counter() - progress.start
        if log:
            counts = " + ".join(str(n) for n in self.counts.values())
            log(f"{self.name}: wrote {counts} images to {self.root} in {seconds:.1f}s")
        return {**content, "root": str(self.root), "seconds": seconds}

    def remove_stale(self) -> None:
        """Delete files an earlier run with other settings left: those in the folders this dataset
        writes, with the suffixes it writes there, that the current settings do not write."""
        expected = set(self.expected())
        suffixes: dict[Path, set[str]] = {}
        for p in expected:
            suffixes.setdefault(p.parent, set()).add(p.suffix)
        for folder, kinds in suffixes.items():
            for p in folder.iterdir() if folder.is_dir() else ():
                if p.suffix in kinds and p.is_file() and p not in expected:
                    p.unlink()
