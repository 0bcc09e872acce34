"""What the experiments share: training a pose network of a given layout on a short schedule,
timing a training step, tables, the run's log, and the provenance (machine, command, date) that every
figure carries in its footer and every results JSON keeps, so a figure can be drawn again from the JSON."""
from __future__ import annotations

import csv
import inspect
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping, MutableMapping, Sequence

import torch

from hrseg.errors import ConfigError, DataError
from hrseg.models.scaling import ScalableHRNet, build_pose_network, network_from_options
from hrseg.utils.flops import measure_complexity
from hrseg.utils.io import atomic_path, save_figure
from hrseg.utils.provenance import provenance_footer, run_provenance
from hrseg.benchmark import prepare, time_forward


def model_options(net: ScalableHRNet) -> dict[str, Any]:
    """The ``model`` config section (``pose_scalable_hrnet``) that builds ``net``."""
    options: dict[str, Any] = dict(
        name="pose_scalable_hrnet", width=net.width, modules=list(net.modules), blocks=list(net.blocks),
        stage1_blocks=net.stage1_blocks, stage1_planes=net.stage1_planes, stem_width=net.stem_width,
        block=net.block, block_options=dict(net.block_options), fusion=net.fusion, input_size=list(net.input_size))
    if net.stage_blocks:
        options["stage_blocks"] = [{"block": b, **dict(o)} for b, o in net.stage_blocks]
    return options


def base_network(cfg: Mapping[str, Any]) -> tuple[ScalableHRNet, dict[str, Any]]:
    """The search config's base layout (``pose_scalable_hrnet``) and the model options that are
    not layout (init, ...), applied to every candidate."""
    model = dict(cfg["model"])
    if model.pop("name", None) != "pose_scalable_hrnet":
        raise ConfigError("the search needs model.name = 'pose_scalable_hrnet' (the base layout)")
    layout_keys = set(inspect.signature(network_from_options).parameters)
    extra = {k: model.pop(k) for k in list(model) if k not in layout_keys}
    return network_from_options(**model, input_size=cfg["data"]["input_size"]), extra


def complexity(net: ScalableHRNet, size: Sequence[int] | None = None) -> tuple[int, float]:
    """Params and GFLOPs (multiply-adds / 2^30) of the pose model on ``net``, on the meta device."""
    with torch.device("meta"):
        model = build_pose_network(net)
    c = measure_complexity(model, tuple(size or net.input_size))
    return c.params, c.gflops_paper


def shorten(cfg: MutableMapping[str, Any], epochs: int | None) -> None:
    """Set ``train.max_epochs`` (evaluating at the end; a ``train.max_iters`` no longer counts) and move the lr
    milestones with it."""
    if epochs is None:
        return
    ratio = epochs / cfg["train"]["max_epochs"]
    if cfg["schedule"].get("milestones"):
        cfg["schedule"]["milestones"] = [max(1, round(m * ratio)) for m in cfg["schedule"]["milestones"]]
    cfg["train"].update(max_epochs=epochs, max_iters=None, eval_interval=min(cfg["train"]["eval_interval"], epochs))


def fastest_seconds(fn: Callable[[], Any], warmup: int = 1, iters: int = 5) -> float:
    """The fastest of ``iters`` calls of ``fn`` after ``warmup`` calls: other work on the machine
    can only slow a call down, so the minimum is the least disturbed measure."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def train_step_seconds(model: torch.nn.Module, input_size: Sequence[int], batch: int = 16, outputs: int = 17,
                       warmup: int = 2, iters: int = 5, seed: int = 0) -> float:
    """Seconds of one training step (forward, MSE loss on the heatmaps, backward, Adam step) on
    a random batch at ``input_size`` (H, W), on the CPU with the current thread count:
    EfficientNetV2's S, measured on this machine rather than estimated from FLOPs; the fastest
    of ``iters`` steps after ``warmup`` (:func:`fastest_seconds`)."""
    torch.manual_seed(seed)
    model = model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, *input_size)

    def step() -> None:
        out = model(x)
        loss = out.square().mean() if outputs else out.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return fastest_seconds(step, warmup, iters)


def save_plot(fig: Any, path: str | Path, provenance: Mapping[str, str] | None = None) -> Path:
    """:func:`~hrseg.utils.io.save_figure` with the provenance footer every experiment's figure carries:
    ``provenance`` is the measurement's (:func:`run_provenance` of the run that measured; default this process)."""
    return save_figure(fig, path, footer=provenance_footer(provenance or run_provenance()))


def read_results(path: str | Path,
                 provenance: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """A results JSON an experiment wrote, and the provenance to draw its figure with: ``provenance`` where
    given (for a JSON written before the runs kept theirs: take it from where the run was published), else the
    JSON's own; neither is a :class:`DataError` (a figure's machine, command and date are never made up)."""
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable results JSON ({e})") from None
    kept = provenance or (result.get("provenance") if isinstance(result, dict) else None)
    if not kept:
        raise DataError(f"{path}: no 'provenance' (machine, command, date) kept: pass the run's own")
    return result, dict(kept)


def as_float(value: float | None) -> float:
    """A number read back from a results JSON, where NaN was written as null."""
    return math.nan if value is None else float(value)


def machine_note(records: Sequence[Mapping[str, Any]]) -> str:
    """One line naming the kernels, torch and thread counts the runs of a table trained with."""
    seen = sorted({(r.get("cpu_kernels", "?"), r.get("torch", "?"), r.get("threads", "?")) for r in records}, key=str)
    return "trained with " + "; ".join(f"{k} kernels, torch {t}, {n} thread(s)" for k, t, n in seen)


def inference_images_per_second(model: torch.nn.Module, input_size: Sequence[int], batch: int = 8) -> float:
    """CPU inference throughput of the optimized (BN-folded) model, current thread count."""
    seconds = time_forward(prepare(model, "optimized"), torch.randn(batch, 3, *input_size), 1, 3)
    return batch / seconds


def read_log(work_dir: str | Path) -> list[dict[str, float]]:
    """A run's ``log.csv`` rows as floats (empty cells -> NaN)."""
    with open(Path(work_dir) / "log.csv", newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
                for row in csv.DictReader(f)]


def metric_curve(rows: Sequence[Mapping[str, float]], metric: str, clock: str = "cpu_time") -> list[tuple[float, float]]:
    """(cumulative training seconds, metric) at each evaluated epoch; ``clock`` is the log column
    summed: ``cpu_time`` (the training loop's CPU seconds, the default) or ``time`` (its wall
    seconds). A log written before the ``cpu_time`` column existed falls back to ``time``."""
    if rows and clock not in rows[0]:
        clock = "time"
    elapsed, curve = 0.0, []
    for r in rows:
        elapsed += r[clock]
        value = r.get("val/" + metric, math.nan)
        if value == value:
            curve.append((elapsed, value))
    return curve


def nan_last(value: float) -> float:
    """A sort key that ranks NaN (a run that gave no AP) below every number, so that ``max``
    never picks it (``max`` keeps a NaN met first: no number compares greater)."""
    return -math.inf if math.isnan(value) else value


def markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A markdown table: ``columns`` are (title, format string over the row's keys)."""
    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(fmt.format(**row) for _, fmt in columns) + " |")
    return "\n".join(lines) + "\n"


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def new_figure(ncols: int = 1, size: tuple[float, float] = (5, 3.5)) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=size)


__all__ = ["as_float", "base_network", "complexity", "fastest_seconds", "inference_images_per_second",
           "machine_note", "markdown", "metric_curve", "model_options", "new_figure", "read_log", "read_results",
           "save_figure", "save_plot", "shorten", "train_step_seconds", "write_text"]
