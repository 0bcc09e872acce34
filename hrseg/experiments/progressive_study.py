"""A fair test of progressive learning (EfficientNetV2, section 4): five arms, several seeds.

Every arm trains the same config, epochs and evaluation; only the ``progressive`` section differs:

* ``a`` fixed size: every epoch at the final size, no added regularization;
* ``b`` progressive size only: the stages' sizes, no added regularization;
* ``c`` progressive size with adaptive regularization: dropout, RandAugment magnitude and Mixup
  alpha rising with the size (the config's ``progressive`` ranges, EfficientNetV2's schedule);
* ``d`` fixed size with the final regularization (the ranges' last values, all epochs);
* ``e`` arm c given the training time of arm a: its epochs are ``round(E * cpu(a) / cpu(c))`` of
  the same seed (milestones moved with them), to answer "same time, better accuracy?".

Time is CPU time: ``cpu(arm)`` is the sum of the log's ``cpu_time`` column, the training loops'
``time.process_time()`` seconds (evaluation excluded). Run with one thread (``OMP_NUM_THREADS=1``)
and ``num_workers=0`` it measures the work an arm needs whatever else shares the machine, and a
paused (SIGSTOP) process accrues none; wall seconds are kept beside it, as a secondary column.

For each arm: final metric (AP for pose, mIoU for segmentation), training CPU seconds, wall seconds,
the metric over training CPU time; across seeds: mean +- sd (no sd for one seed: the table says
``n=1``). ``converged`` says whether arm a's metric was still rising at the end (the study is fair only
once it is not): False if a seed's last evaluation rose, True if every seed of arm a has two or more
evaluations and none rose, None (unknown, and said so) otherwise. Writes ``study.json``,
``study.md`` and ``study.png`` (metric against training CPU time, one colour per arm, one line per
seed; from ``study.json`` by :func:`replot_study`, its footer the run's machine, command and date that the
JSON keeps).

Resumable: a finished arm is kept in ``<arm>_seed<N>/arm.json`` with its config and reused when the
config is the same; an interrupted arm continues from its ``latest.pth`` (the config it started
with is in ``arm_started.json``), its CPU time summed from the log rows, which a resume keeps.
"""
from __future__ import annotations

import copy
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hrseg.errors import ConfigError
from hrseg.experiments.common import (machine_note, markdown, metric_curve, new_figure, read_log, read_results,
                                      save_plot, shorten, write_text)
from hrseg.utils.io import write_json
from hrseg.utils.provenance import machine, run_provenance
from hrseg.tasks import pose, segmentation

ARMS = {
    "a": "fixed size",
    "b": "progressive size only",
    "c": "progressive size + adaptive regularization",
    "d": "fixed size + final regularization",
    "e": "progressive + regularization, CPU time of (a)",
}
REGULARIZERS = ("dropout", "drop_path", "randaugment", "mixup")


def _task(task: str) -> tuple[Callable[..., dict[str, Any]], Callable[[Mapping[str, Any]], dict[str, float]], str]:
    """(config loader, train function, metric) of 'pose' or 'seg'."""
    if task == "pose":
        return pose.load_pose_config, pose.train, "AP"
    if task == "seg":
        return segmentation.load_seg_config, segmentation.train, "mIoU"
    raise ConfigError(f"unknown task {task!r}; choose pose or seg")


def _last(value: Any) -> float:
    return float(value[-1] if isinstance(value, (list, tuple)) else value)


def arm_config(cfg: Mapping[str, Any], arm: str, seed: int, epochs: int | None = None) -> dict[str, Any]:
    """The config of one arm (``epochs`` overrides the length, for arm e)."""
    if arm not in ARMS:
        raise ConfigError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}")
    run = copy.deepcopy(dict(cfg))
    prog = dict(run["progressive"])
    if arm == "a":
        prog["enabled"] = False
    elif arm == "b":
        prog.update(enabled=True, **{k: [0.0, 0.0] for k in REGULARIZERS})
    elif arm in ("c", "e"):
        prog["enabled"] = True
    else:  # d: one stage at the final size with the last values of the ranges
        final = {k: [_last(prog[k])] * 2 for k in REGULARIZERS}
        prog.update(enabled=True, num_stages=1, sizes=None, min_scale=1.0, **final)
    run["progressive"] = prog
    run["seed"] = seed
    shorten(run, epochs)
    return run


def train_arm(cfg: Mapping[str, Any], task: str, work_dir: Path, collect_only: bool = False) -> dict[str, Any] | None:
    """Train one arm; its result is also kept in ``work_dir/arm.json`` with the config it was
    trained with, and an existing one for the same config is reused (so seeds can train in
    parallel processes and one last call collects them, and a stopped study resumes). An arm
    interrupted part-way with the same config continues from its last epoch's checkpoint.
    ``collect_only``: return the kept result or None, train nothing."""
    _, train, metric = _task(task)
    run = dict(cfg, work_dir=str(work_dir))
    plain = json.loads(json.dumps(run, default=str))
    saved, started = work_dir / "arm.json", work_dir / "arm_started.json"
    if saved.is_file():
        earlier = json.loads(saved.read_text())
        if _same_run(earlier.get("config"), plain):
            print(f"reusing {saved}")
            result = earlier["result"]
            result.setdefault("cpu_s", result["train_s"])  # a result saved before CPU time was logged
            return result
    if collect_only:
        return None
    resume = started.is_file() and _same_run(json.loads(started.read_text()), plain)
    write_json(started, plain)
    start, cpu_start = time.perf_counter(), time.process_time()
    metrics = train(dict(run, resume=True if resume else run.get("resume")))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rows = read_log(work_dir)
    result = {"metric": float(metrics.get(metric, float("nan"))), "cpu_s": train_cpu_seconds(rows),
              "train_s": sum(r["time"] for r in rows), "wall_s": wall, "process_cpu_s": cpu,
              "resumed": resume, "epochs": len(rows), "curve": metric_curve(rows, metric, "cpu_time"),
              "wall_curve": metric_curve(rows, metric, "time"), "machine": machine()}
    write_json(saved, {"config": plain, "result": result})
    return result


def _same_run(kept: Any, config: Mapping[str, Any]) -> bool:
    """The same config, wherever its folder was (a study or search moved as a whole still reuses
    its runs: the kept files are in the folder itself)."""
    return isinstance(kept, dict) and {**kept, "work_dir": None} == {**config, "work_dir": None}


def train_cpu_seconds(rows: Sequence[Mapping[str, float]]) -> float:
    """The training loops' CPU seconds of a run's log (its wall ``time`` for a log without them)."""
    return sum(r["cpu_time"] if "cpu_time" in r else r["time"] for r in rows)


def _mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample sd; the sd is None for one value (there is no spread to show)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def spread(mean: float, sd: float | None, digits: int) -> str:
    """``mean +- sd`` to ``digits`` decimals, or ``mean (n=1)`` where there is no sd."""
    return f"{mean:.{digits}f} (n=1)" if sd is None else f"{mean:.{digits}f} +- {sd:.{digits}f}"


def summarize(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm: mean and sd (None for one seed) of the final metric, training CPU and wall seconds."""
    out = {}
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        if not mine:
            continue
        mean, sd = _mean_sd([r["metric"] for r in mine])
        cpu_mean, cpu_sd = _mean_sd([r["cpu_s"] for r in mine])
        wall_mean, wall_sd = _mean_sd([r["wall_s"] for r in mine])
        out[arm] = {"n": len(mine), "mean": mean, "sd": sd, "cpu_mean": cpu_mean, "cpu_sd": cpu_sd,
                    "wall_mean": wall_mean, "wall_sd": wall_sd, "epochs": statistics.fmean(r["epochs"] for r in mine),
                    "per_seed": " / ".join(f"{r['metric']:.3f}" for r in mine),
                    "epochs_per_seed": " / ".join(str(r["epochs"]) for r in mine),
                    "metric_text": spread(mean, sd, 4), "cpu_text": spread(cpu_mean, cpu_sd, 0),
                    "wall_text": spread(wall_mean, wall_sd, 0)}
    return out


def still_rising(curve: Sequence[tuple[float, float]], tolerance: float = 0.005) -> bool | None:
    """Whether the last evaluation beat the one before by more than ``tolerance``; None (unknown)
    for a curve with fewer than two evaluations."""
    if len(curve) < 2:
        return None
    return curve[-1][1] - curve[-2][1] > tolerance


def converged(rising: Sequence[bool | None]) -> bool | None:
    """Arm a's convergence from its seeds' :func:`still_rising`: False if any seed was still rising,
    True if every seed was known to have stopped, None (unknown) with no seed of arm a or a seed whose
    curve is too short to tell."""
    if any(r is True for r in rising):
        return False
    if not rising or any(r is None for r in rising):
        return None
    return True


def convergence_note(state: bool | None) -> str:
    """The study.md sentence for :func:`converged`'s answer."""
    if state is None:
        return ("convergence unknown: fixed size (a) is missing or has fewer than two evaluations in a seed, so "
                "whether it had stopped rising is not shown (evaluate more often or train longer)")
    if state:
        return "fixed size (a) had stopped rising: the comparison is at convergence"
    return "fixed size (a) was still rising at the end: NOT converged, a longer schedule is needed to compare"


def run_study(config: str | Path | None, task: str, work_dir: str | Path, seeds: Sequence[int] = (0, 1, 2),
              arms: Sequence[str] = tuple(ARMS), options: Sequence[str] = (), collect_only: bool = False) -> dict[str, Any]:
    """Train every arm for every seed (arm e after a and c of the same seed); write the results.
    ``collect_only``: summarize the arms already finished (a partial study), train nothing."""
    load, _, metric = _task(task)
    cfg = load(config, list(options))
    if "e" in arms and not {"a", "c"} <= set(arms):
        raise ConfigError("arm e needs arms a and c (its length comes from their CPU times)")
    out = Path(work_dir)
    runs: list[dict[str, Any]] = []
    order = [a for a in ARMS if a in arms]
    for seed in seeds:
        done: dict[str, dict[str, Any]] = {}
        for arm in order:
            epochs = None
            if arm == "e":
                if not {"a", "c"} <= set(done):
                    continue  # collecting a partial study: a or c of this seed not finished
                epochs = max(1, round(cfg["train"]["max_epochs"] * done["a"]["cpu_s"] / done["c"]["cpu_s"]))
            r = train_arm(arm_config(cfg, arm, seed, epochs), task, out / f"{arm}_seed{seed}", collect_only)
            if r is None:
                continue
            done[arm] = r
            runs.append({"arm": arm, "seed": seed, **r})
            print(f"arm {arm} ({ARMS[arm]}), seed {seed}: {metric} {r['metric']:.4f} in {r['cpu_s']:.0f} CPU s "
                  f"of training, {r['wall_s']:.0f} s wall ({r['epochs']} epochs)", flush=True)
    summary = summarize(runs)
    rising = [still_rising(r["curve"]) for r in runs if r["arm"] == "a"]
    result = {"task": task, "metric": metric, "config": str(config), "options": list(options), "seeds": list(seeds),
              "progressive": cfg["progressive"], "max_epochs": cfg["train"]["max_epochs"], "runs": runs,
              "summary": summary, "fixed_size_still_rising": rising, "converged": converged(rising),
              "provenance": run_provenance()}
    write_json(out / "study.json", result)
    rows = [{"arm": f"({a}) {ARMS[a]}", **s} for a, s in summary.items()]
    table = markdown(rows, [("arm", "{arm}"), ("epochs", "{epochs_per_seed}"), ("seeds", "{n}"),
                            (f"{metric} per seed", "{per_seed}"), (f"{metric} mean +- sd", "{metric_text}"),
                            ("training CPU s mean +- sd", "{cpu_text}"), ("wall s mean +- sd", "{wall_text}")])
    note = convergence_note(result["converged"]) + "\n" + machine_note([r.get("machine", {}) for r in runs])
    write_text(out / "study.md", table + "\n" + note + "\n")
    replot_study(out / "study.json", out / "study.png")
    print(table + "\n" + note)
    return result


def plot_study(runs: Sequence[Mapping[str, Any]], metric: str, path: str | Path,
               provenance: Mapping[str, str] | None = None) -> None:
    """Each run's ``curve`` (metric over training CPU seconds), one colour per arm."""
    fig, ax = new_figure(size=(6, 4))
    colours = dict(zip(ARMS, ("C0", "C1", "C2", "C3", "C4")))
    for arm in ARMS:
        for i, r in enumerate(x for x in runs if x["arm"] == arm):
            xs, ys = zip(*r["curve"]) if r["curve"] else ((), ())
            ax.plot(xs, ys, "o-", color=colours[arm], ms=3, alpha=0.8,
                    label=f"({arm}) {ARMS[arm]}" if i == 0 else None)
    ax.set_xlabel("training CPU time (s, one thread)")
    ax.set_ylabel(f"{metric} (val)")
    ax.set_title("progressive learning: metric over training CPU time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_plot(fig, path, provenance)


def replot_study(results: str | Path, path: str | Path, provenance: Mapping[str, str] | None = None) -> None:
    """``study.png`` again from a ``study.json``, nothing trained, with the run's provenance
    (:func:`~hrseg.experiments.common.read_results`)."""
    result, kept = read_results(results, provenance)
    plot_study(result["runs"], result["metric"], path, kept)
