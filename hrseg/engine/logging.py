"""What a run writes besides checkpoints, all under its work_dir and from rank 0 only.

- ``log.csv``: one row per epoch: epoch, iteration, lr (the rate of the epoch's last step, as in the
  summary line), the train_step's loss terms (epoch means), images_per_s, time (wall s of the epoch's
  training loop), cpu_time (``time.process_time()`` s of
  the same loop: this process's CPU, all its threads, not DataLoader workers; with one thread and
  ``num_workers=0`` it measures the work done even on a shared or paused machine), skipped,
  data_wait (the share of ``time`` the loop waited for the DataLoader's next batch: near 0 when the
  data keep up with the step), and the evaluation metrics as ``val/<name>`` (empty on epochs
  without evaluation). On resume the rows after the checkpoint's epoch are dropped, so a crashed
  epoch is not counted twice; a new column rewrites the file with the wider header.
- ``train.log``: the epoch summary lines.
- TensorBoard events under ``tb/`` when ``torch.utils.tensorboard`` imports (skipped otherwise).
- At the end: ``curves.png`` (losses, lr, metrics per epoch) and ``metrics.json``, both saying where they
  were made (machine, command, date: :func:`hrseg.utils.provenance.run_provenance`; a resumed run's are
  those of the process that finished it).
"""
from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

from hrseg.utils.io import atomic_path, save_figure, write_json
from hrseg.utils.provenance import provenance_footer, run_provenance

log = logging.getLogger("hrseg")

FIXED_COLUMNS = ("epoch", "iteration", "lr")
RATE_COLUMNS = ("images_per_s", "time", "cpu_time", "skipped", "data_wait")
METRIC_PREFIX = "val/"


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    return str(value)


class CsvLog:
    """An epoch table in a CSV file that survives resumes and new columns."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.fields: list[str] = []
        self.rows: list[dict[str, str]] = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.fields = list(reader.fieldnames or [])
                self.rows = [dict(r) for r in reader]

    def keep_epochs(self, last_epoch: int) -> None:
        """Drop rows of epochs after ``last_epoch`` (0 = all rows: a fresh run)."""
        if last_epoch <= 0:
            self.rows, self.fields = [], []
            self.path.unlink(missing_ok=True)
            return
        kept = [r for r in self.rows if _epoch_of(r) <= last_epoch]
        if len(kept) != len(self.rows):
            self.rows = kept
            self._rewrite()

    def append(self, row: Mapping[str, Any]) -> None:
        text = {k: _fmt(v) for k, v in row.items()}
        new = [k for k in text if k not in self.fields]
        self.rows.append(text)
        if new or not self.path.is_file():
            self.fields += new
            self._rewrite()
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, self.fields).writerow(text)

    def _rewrite(self) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(self.rows)


def _epoch_of(row: Mapping[str, str]) -> int:
    try:
        return int(row.get("epoch") or 0)
    except ValueError:
        return 0


def _summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step)


class RunLogger:
    """CSV + TensorBoard + text log of one run; every method is a no-op when not ``enabled``."""

    def __init__(self, work_dir: str | os.PathLike, enabled: bool = True, start_epoch: int = 0,
                 start_iteration: int = 0, tensorboard: bool = True):
        self.work_dir = Path(work_dir)
        self.enabled = enabled
        self.csv: CsvLog | None = None
        self.tb = None
        if not enabled:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.csv = CsvLog(self.work_dir / "log.csv")
        self.csv.keep_epochs(start_epoch)
        if tensorboard:
            self.tb = _summary_writer(self.work_dir / "tb", start_iteration or None)

    def info(self, line: str) -> None:
        """A summary line: to the ``hrseg`` logger and to ``train.log``."""
        if not self.enabled:
            return
        log.info(line)
        with open(self.work_dir / "train.log", "a") as f:
            f.write(line + "\n")

    def scalars(self, step: int, values: Mapping[str, float], prefix: str = "train/") -> None:
        """Per-iteration values (TensorBoard only)."""
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(prefix + k, v, step)

    def epoch(self, epoch: int, iteration: int, losses: Mapping[str, float],
              stats: Mapping[str, float], metrics: Mapping[str, float]) -> None:
        """One CSV row (``stats``: lr, images_per_s, time, skipped); also to TensorBoard."""
        if not self.enabled:
            return
        row = {"epoch": epoch, "iteration": iteration, "lr": stats.get("lr"), **losses,
               **{k: v for k, v in stats.items() if k != "lr"},
               **{METRIC_PREFIX + k: v for k, v in metrics.items()}}
        self.csv.append(row)
        self.scalars(iteration, metrics, prefix=METRIC_PREFIX)
        self.scalars(iteration, stats, prefix="epoch/")

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Write ``metrics.json`` and ``curves.png``; close TensorBoard."""
        if not self.enabled:
            return
        provenance = run_provenance()
        write_json(self.work_dir / "metrics.json", {**summary, "provenance": provenance})
        if self.csv.rows:
            save_curves(self.csv.rows, self.work_dir / "curves.png", footer=provenance_footer(provenance))
        if self.tb is not None:
            self.tb.close()


def check_finite(values: dict[str, float], epoch: int, iteration: int, latest: Path) -> dict[str, float]:
    """``values``, or a FloatingPointError naming the non-finite ones and the checkpoint to go back to."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise FloatingPointError(f"non-finite {bad} at epoch {epoch + 1}, iteration {iteration}: lower the lr, set "
                                 f"train.grad_clip or check the data; {latest} holds the last good epoch")
    return values


def epoch_line(epoch: int, max_epochs: int, losses: Mapping[str, float], stats: Mapping[str, float],
               metrics: Mapping[str, float], best: str | None = None) -> str:
    """The epoch's summary line for ``train.log``; ``best``: the metric that improved, if one did."""
    terms = " ".join(f"{k} {v:.4g}" for k, v in losses.items() if k != "loss")
    line = (f"epoch {epoch}/{max_epochs} | loss {losses.get('loss', float('nan')):.4g}"
            + (f" ({terms})" if terms else "")
            + f" | lr {stats['lr']:.3g} | {stats['images_per_s']:.1f} img/s"
            + (f" (data wait {stats['data_wait']:.0%})" if "data_wait" in stats else "")
            + f" | {stats['time']:.1f} s"
            + (f" (cpu {stats['cpu_time']:.1f} s)" if "cpu_time" in stats else "")
            + f" | skipped {stats['skipped']}")
    if metrics:
        line += " | " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        if best:
            line += f" (best {best})"
    return line


def save_curves(rows: list[Mapping[str, str]], path: str | os.PathLike, footer: str | None = None) -> Path:
    """Plot the epoch table: one panel for the loss terms, one for lr, one per metric; ``footer``: where the
    run was made (:func:`~hrseg.utils.io.save_figure`).

    Uses matplotlib's Agg canvas directly (no pyplot), so the process's backend is untouched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def series(col: str) -> tuple[list[float], list[float]]:
        pts = [(float(r["epoch"]), float(r[col])) for r in rows if r.get(col) not in (None, "")]
        pts = [p for p in pts if math.isfinite(p[1])]
        return [p[0] for p in pts], [p[1] for p in pts]

    columns = set().union(*(r.keys() for r in rows))
    metrics = sorted(c for c in columns if c.startswith(METRIC_PREFIX))
    losses = sorted((c for c in columns if c not in metrics and c not in FIXED_COLUMNS + RATE_COLUMNS),
                    key=lambda c: (c != "loss", c))
    panels: list[tuple[str, list[str]]] = [("loss", losses), ("lr", ["lr"])]
    panels += [(m[len(METRIC_PREFIX):], [m]) for m in metrics]
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.5 * ncols, 3.2 * nrows))
    FigureCanvasAgg(fig)
    for i, (title, cols) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for col in cols:
            x, y = series(col)
            if y:
                ax.plot(x, y, marker="." if len(x) < 30 else None, label=col)
                if title in ("loss", "lr") and min(y) > 0:
                    ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(cols) > 1:
            ax.legend(fontsize="small")
    return save_figure(fig, path, dpi=100, footer=footer)
