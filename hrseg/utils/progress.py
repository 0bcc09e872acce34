"""Progress of long loops: a tqdm bar on a terminal, one log line every 30 s elsewhere (a log
file, CI), where tqdm's redrawn bar would write thousands of lines. The training loop, the
evaluations and the video loop all report through :func:`progress_bar`."""
from __future__ import annotations

import logging
import sys
import time
from typing import Any, Iterable, Iterator, TypeVar

from tqdm import tqdm

log = logging.getLogger("hrseg")
T = TypeVar("T")


class LineProgress:
    """The progress of a loop as a log line every ``interval`` seconds. Offers the part of tqdm's
    interface the loops use (``update``, ``set_postfix``, ``set_postfix_str``, a context manager)."""

    def __init__(self, total: int | None, desc: str, interval: float = 30.0, disable: bool = False) -> None:
        self.total, self.desc, self.interval, self.disable = total, desc, interval, disable
        self.n, self.postfix, self._clock = 0, "", time.perf_counter
        self._last = self._clock()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.disable and self.n and exc[0] is None:
            self._emit()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.disable and self._clock() - self._last >= self.interval:
            self._emit()

    def close(self) -> None:
        """tqdm's ``close``: nothing to tidy for a log line."""

    def _emit(self) -> None:
        self._last = self._clock()
        total = f"/{self.total}" if self.total else ""
        log.info(f"{self.desc}: {self.n}{total}" + (f", {self.postfix}" if self.postfix else ""))


def on_terminal() -> bool:
    """Whether progress bars can redraw in place (stderr is a terminal, not a log file)."""
    return sys.stderr.isatty()


def progress_bar(total: int | None, desc: str, disable: bool = False, unit: str = "it") -> Any:
    """A tqdm bar on a terminal, a :class:`LineProgress` (a line every 30 s) elsewhere."""
    if on_terminal():
        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, disable=disable, unit=unit)
    return LineProgress(total, desc, disable=disable)


def progress_iter(items: Iterable[T], total: int | None, desc: str, disable: bool = False) -> Iterator[T]:
    """``items`` with a :func:`progress_bar` over them (the evaluation loops' form)."""
    with progress_bar(total, desc, disable=disable) as bar:
        for item in items:
            yield item
            bar.update()
