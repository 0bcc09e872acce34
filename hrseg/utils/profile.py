"""Where an end-to-end run spends its time: seconds per named stage, for ``--profile``.

    timer = StageTimer()
    with timer("decode"):
        image = read_image(path)
    report = timer.report(images=1)        # images/s and each stage's share of the run

Stages must not nest (each second is counted once); what no stage covers is reported as
``other``. ``setup`` (loading weights, preparing the backend) is reported apart and left out of
the images/s and the shares, which describe the steady per-image work.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

SETUP = "setup"


class StageTimer:
    """Seconds per stage since it was made; ``with timer(stage): ...`` adds to ``stage``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0

    def report(self, images: int) -> dict[str, Any]:
        """``images`` processed: ``seconds``, the run's time without its setup (``setup_s``, beside
        it), the images/s over that time, and each stage's seconds and share of it (``other``: what
        no stage covered)."""
        total = time.perf_counter() - self.start
        setup = self.seconds.get(SETUP, 0.0)
        work = max(total - setup, 1e-9)
        stages = {k: v for k, v in self.seconds.items() if k != SETUP}
        stages["other"] = max(work - sum(stages.values()), 0.0)
        return {"images": images, "seconds": work, "setup_s": setup, "images_per_s": images / work,
                "stages": {k: {"seconds": round(v, 4), "share": round(v / work, 4)} for k, v in stages.items()}}


def summary_line(report: dict[str, Any]) -> str:
    """One line of :meth:`StageTimer.report`."""
    shares = ", ".join(f"{k} {v['share']:.0%}" for k, v in report["stages"].items())
    return (f"{report['images']} images in {report['seconds']:.2f} s = "
            f"{report['images_per_s']:.2f} images/s (setup {report['setup_s']:.1f} s apart): {shares}")
