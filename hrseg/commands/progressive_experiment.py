"""Fixed-size training against progressive learning, same config and epochs, on a pose split.

    hrseg progressive-experiment                 # configs/effnet/progressive_synthetic.py
    hrseg progressive-experiment CONFIG --cfg-options train.max_epochs=30
    python tools/progressive_experiment.py ...   # the same command, from a clone

Trains the config twice, ``progressive.enabled=False`` (every epoch at ``data.input_size``) and
``True`` (its ``progressive`` section: growing sizes and regularization), with the same seed,
schedule and evaluation, and writes to ``<work-dir>``: ``progressive.json``, ``progressive.md``
(wall time, training time, final AP of each run) and ``progressive.png`` (AP against training
time, and each epoch's training time). Wall times are what the machine gave, other work included.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

from hrseg.commands import for_task, home_path, in_home
from hrseg.errors import ConfigError
from hrseg.utils.io import atomic_path, save_figure, write_json

DEFAULT_CONFIG = "effnet/progressive_synthetic.py"  # under configs/
METRIC = "AP"


def read_epochs(work_dir: Path) -> list[dict[str, float]]:
    """The run's ``log.csv`` rows as floats (empty cells -> NaN)."""
    with open(work_dir / "log.csv", newline="") as f:
        return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
                for row in csv.DictReader(f)]


def run(config: str, options: list[str], progressive: bool, work_dir: Path) -> dict[str, Any]:
    from hrseg.tasks.pose import load_pose_config, train

    cfg = load_pose_config(config, options)
    if "progressive" not in cfg:
        raise ConfigError("this hrseg's pose task has no 'progressive' config section")
    cfg["progressive"]["enabled"] = progressive
    cfg["work_dir"] = str(work_dir)
    start = time.perf_counter()
    metrics = train(in_home(cfg))
    wall = time.perf_counter() - start
    rows = read_epochs(work_dir)
    elapsed, curve = 0.0, []
    for r in rows:
        elapsed += r["time"]
        if r.get("val/" + METRIC) == r.get("val/" + METRIC):  # evaluated this epoch (not NaN)
            curve.append((elapsed, r["val/" + METRIC]))
    return {"progressive": progressive, "wall_s": wall, "train_s": sum(r["time"] for r in rows),
            "epoch_s": [r["time"] for r in rows], "curve": curve, METRIC: float(metrics.get(METRIC, float("nan"))),
            "epochs": len(rows)}


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    for r in results:
        label = "progressive" if r["progressive"] else "fixed size"
        xs, ys = zip(*r["curve"]) if r["curve"] else ((), ())
        a.plot(xs, ys, "o-", label=label)
        b.plot(range(1, len(r["epoch_s"]) + 1), r["epoch_s"], "o-", label=label)
    a.set_xlabel("training time (s)")
    a.set_ylabel(f"{METRIC} (val)")
    a.set_title(f"{METRIC} against training time")
    b.set_xlabel("epoch")
    b.set_ylabel("seconds")
    b.set_title("time per epoch")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


@for_task("pose")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help="pose config (a file or a shipped name)")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                    help="overrides for both runs, e.g. train.max_epochs=30")
    ap.add_argument("--work-dir", default="work_dirs/progressive_experiment")
    ap.add_argument("--runs", nargs="+", choices=["fixed", "progressive"], default=["fixed", "progressive"],
                    help="which of the two runs to train (default both)")
    args = ap.parse_args(argv)
    out = home_path(args.work_dir)
    results = [run(args.config, args.cfg_options, name == "progressive", out / name) for name in args.runs]
    lines = [f"| run | epochs | wall time (s) | training time (s) | {METRIC} |", "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {'progressive' if r['progressive'] else 'fixed size'} | {r['epochs']} | {r['wall_s']:.0f} | "
                     f"{r['train_s']:.0f} | {r[METRIC]:.4f} |")
    table = "\n".join(lines) + "\n"
    write_json(out / "progressive.json", {"config": args.config, "cfg_options": args.cfg_options, "runs": results})
    with atomic_path(out / "progressive.md") as tmp:
        Path(tmp).write_text(table)
    plot(results, out / "progressive.png")
    print(table + f"plot: {out / 'progressive.png'}")
    return 0

