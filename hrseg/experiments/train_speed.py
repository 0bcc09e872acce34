"""How fast a model trains, and where a step's time goes (``hrseg bench-train``).

The measures of one model, input size and batch, in one table:

- the bare training step: the real step (the task's ``train_step``, loss, backward, optimizer,
  schedule, with the speed options of :mod:`hrseg.engine.speed` as a run on this device resolves
  them, a CUDA graph included) repeated on one batch already on the device: no data loading;
- that step split into forward / backward / optimizer, each phase timed eagerly with a device
  synchronisation around it (so on a GPU their sum exceeds the asynchronous step's time);
- the real loop: two of the Trainer's epochs over ``loop_iters`` batches of the synthetic split
  (decode, warp, targets in DataLoader workers, ``pin_memory`` under CUDA), their images/s and
  data-wait share (the time the loop waited for the next batch): the first with the workers'
  start-up, the next without it where the workers persist; and a third epoch of the DataLoader
  alone (workers, collation, pinning, the copy to the device; no step): the images/s the data
  pipeline can deliver, to hold against the bare step's;
- kernels per step from torch.profiler: CUDA kernel launches from the host (one graph launch for a
  captured step) and kernels run on the GPU, or aten operator calls (nested ones included) on the CPU;
- what one DataLoader worker produces (samples/s of ``dataset[i]`` in this process): with the
  targets drawn and the crop normalised by the worker, without the targets (pose,
  ``train.gpu_targets``), and with neither, the crop sent as uint8 (``train.device_normalize``,
  the default): how many workers the step needs.

The model's task is its name's prefix (``pose_``, ``seg_``); the data is the task's synthetic
mini-split config with the model, size and batch replaced (sigma scaled with the heatmap as the
official recipes: 2 at 64x48).
"""
from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import Subset

from hrseg.engine import Trainer, build_dataloader, seed_everything
from hrseg.engine.batches import batch_size_of, to_device
from hrseg.errors import ConfigError
from hrseg.utils.provenance import machine, machine_name
from hrseg.meta.model_names import task_of_name
from hrseg.utils.device import available_device
from hrseg.tasks import pose, segmentation

TASKS = {"pose": (pose.TASK, "pose/synthetic_mini.py"), "seg": (segmentation.TASK, "seg/synthetic_mini.py")}
# host-side launch calls as the profiler names them (cudaLaunchKernel, cudaLaunchKernelExC, cuLaunchKernel,
# cudaGraphLaunch, ..., with or without a version suffix)
LAUNCHES = ("cudaLaunch", "cuLaunch", "cudaGraphLaunch", "cuGraphLaunch")
# kineto, the profiler's C++ side, logs to stderr at its levels VERBOSE 0 ... ERROR 4, USDT 5 from the level in
# KINETO_LOG_LEVEL, read once: when the process's first profile starts. By default a CPU profile prints its USDT
# probes (profiler_start / profiler_stop) and, without a CUDA driver, "gpuGetDeviceCount failed with code 35"
# (an ERROR: kineto asks for the GPUs' properties whatever activities are profiled); above USDT it prints nothing.
KINETO_SILENT = "6"


def task_of(model_name: str) -> str:
    kind = task_of_name(model_name)
    if kind not in TASKS:
        raise ConfigError(f"bench-train: {model_name!r}: the model's task comes from its name, pose_* or seg_* "
                          f"(detection's variable-size batches are not benchmarked)")
    return kind


def bench_config(model_name: str, input_size: Sequence[int], batch: int, num_workers: int,
                 data_root: str | None = None, cfg_options: Sequence[str] = ()) -> dict[str, Any]:
    """The task's synthetic mini-split config for ``model_name`` at ``input_size`` (H, W) and
    ``batch``, with ``cfg_options`` (``["train.cuda_graph=false", ...]``) applied and checked."""
    task, config = TASKS[task_of(model_name)]
    cfg = task.load_config(config, list(cfg_options))
    h, w = int(input_size[0]), int(input_size[1])
    cfg["model"]["name"] = model_name
    data = cfg["data"]
    if task is pose.TASK:
        data.update(input_size=[h, w], heatmap_size=[h // 4, w // 4], sigma=2.0 * (h // 4) / 64)
    else:
        data.update(crop_size=[h, w])
    data.update(batch_size=int(batch), num_workers=int(num_workers))
    if data_root is not None:
        data["root"] = str(data_root)
    task.check_config(cfg, "bench-train")  # the speed options and the sizes, before the split is generated
    return cfg


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def kernels_per_step(fn: Callable[[], Any], device: torch.device) -> dict[str, int]:
    """What one call of ``fn`` launches: on CUDA the host's kernel (and graph) launches and the
    kernels the GPU ran; on the CPU the aten operator calls."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    _sync(device)
    with _kineto_log_level(None if device.type == "cuda" else KINETO_SILENT), profile(activities=activities) as prof:
        fn()
        _sync(device)
    events = prof.events()
    if device.type == "cuda":
        return {"launches": sum(e.name.startswith(LAUNCHES) for e in events),
                "gpu_kernels": sum(e.device_type == torch.autograd.DeviceType.CUDA
                                   and not e.name.startswith(("Memcpy", "Memset")) for e in events)}
    return {"aten_ops": sum(e.name.startswith("aten::") for e in events)}


@contextmanager
def _kineto_log_level(level: str | None) -> Iterator[None]:
    """KINETO_LOG_LEVEL=``level`` while a profile starts, unless the environment names one (None: as it is).

    kernels_per_step silences kineto on the CPU: with no CUDA activity profiled, nothing it logs bears
    on the aten operators counted. On CUDA its errors (CUPTI's) explain missing GPU kernels, and no level
    shows them without the USDT lines, so it logs as by default. The level holds for the process from its
    first profile on; a profile started earlier in the process has fixed it already."""
    if level is None or "KINETO_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["KINETO_LOG_LEVEL"] = level
    try:
        yield
    finally:
        os.environ.pop("KINETO_LOG_LEVEL", None)


def bench_train(model_name: str, input_size: Sequence[int], batch: int, device: str = "cpu", iters: int = 10,
                warmup: int = 3, loop_iters: int = 20, num_workers: int = 2, data_root: str | None = None,
                cfg_options: Sequence[str] = (), seed: int = 0) -> dict[str, Any]:
    """The four measures (see the module docstring) as one record."""
    dev = available_device(device, "bench-train")
    cfg = bench_config(model_name, input_size, batch, num_workers, data_root, cfg_options)
    task, _ = TASKS[task_of(model_name)]
    seed_everything(seed)
    train_set = task.build_dataset(cfg, "train")
    need = batch * loop_iters  # the loop's epochs; the bare step's batch is the first of them
    if len(train_set) < need:
        raise ConfigError(f"bench-train: the synthetic split has {len(train_set)} samples, {need} are needed "
                          f"({loop_iters} loop iterations of batch {batch}); lower --loop-iters")
    model = task.build_model(cfg)
    step_fn, _ = task.training_step(cfg, model, train_set)  # the Trainer tells it train.gpu_targets, ...
    loader = build_dataloader(Subset(train_set, range(need)), batch_size=batch, num_workers=num_workers,
                              collate_fn=task.collate, drop_last=True, seed=seed)
    with tempfile.TemporaryDirectory() as work_dir:
        train = {**cfg["train"], "max_epochs": 1, "max_iters": None, "progress": False,
                 "log_interval": max(loop_iters, 1)}
        trainer = Trainer(model, loader, step_fn, cfg["optimizer"], cfg["schedule"], Path(work_dir),
                          seed=seed, device=dev, **train)
        try:
            one = to_device(next(iter(loader)), dev, trainer.speed.channels_last)
            phases, first_step_s = _phases(trainer, one, dev, warmup, iters)
            capture_s = _timed(lambda: trainer.step(one), dev)  # a CUDA graph is captured here
            for _ in range(warmup - 1):
                trainer.step(one)
            step_s = _timed(lambda: [trainer.step(one) for _ in range(iters)], dev) / iters
            eager = kernels_per_step(lambda: (trainer.optimizer.zero_grad(set_to_none=True),
                                              trainer.forward_backward(one), trainer.optimizer_step()), dev)
            stepped = kernels_per_step(lambda: trainer.step(one), dev)
            _, first = trainer.train_epoch(0)  # start-up inside: the workers' first batches
            _, stats = trainer.train_epoch(1)  # the next: persistent workers are running already
            data_only = loader_rate(trainer.epochs(2), dev, trainer.speed.channels_last)  # the Trainer's workers
        finally:
            trainer.epochs.close()  # the run's persistent workers stop here, not when collected
    worker = worker_rates(train_set, min(need, 4 * batch))
    graph = trainer.graphed
    return {
        "model": model_name, "input_size": [int(v) for v in input_size], "batch": batch, "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else machine_name(),
        "amp": trainer.amp, "speed": trainer.speed.describe(trainer.compiled_regions),
        "first_step_s": first_step_s, "first_graph_step_s": capture_s,
        "cuda_graph": bool(graph is not None and graph.graph is not None),
        "graph_note": graph.disabled if graph is not None else None,
        "step_images_per_s": batch / step_s, "step_ms": 1000 * step_s,
        "phases_ms": {k: 1000 * v for k, v in phases.items()},
        "kernels_eager": eager, "kernels_step": stepped,
        "loop_images_per_s": stats["images_per_s"], "loop_data_wait": stats["data_wait"],
        "first_loop_images_per_s": first["images_per_s"], "first_loop_data_wait": first["data_wait"],
        "loader_images_per_s": data_only,
        "loop_iters": loop_iters, "num_workers": num_workers, "iters": iters, "worker_samples_per_s": worker,
        **machine(),
    }


# What one pose worker does in each measured setting (CocoPoseDataset's flags)
WORKER_SETTINGS = {
    "targets": {"draw_targets": True, "normalize_images": True},
    "no_targets": {"draw_targets": False, "normalize_images": True},
    "uint8": {"draw_targets": False, "normalize_images": False},
}
WORKER_LABELS = {"targets": ", targets drawn by it", "no_targets": ", no targets drawn by it",
                 "sample": "", "uint8": ", uint8 crops (normalised on the device)"}


def loader_rate(batches: Iterator[Any], device: torch.device, channels_last: bool = False) -> float:
    """Images/s an epoch's ``batches`` reach ``device`` with no training step, from the first batch
    on (the workers' start-up, if they start, before it); NaN for an epoch of one batch."""
    next(batches)
    images, start = 0, time.perf_counter()
    for batch in batches:
        to_device(batch, device, channels_last)
        images += batch_size_of(batch)
    _sync(device)
    return images / (time.perf_counter() - start) if images else float("nan")


def worker_rates(dataset: Any, samples: int) -> dict[str, float]:
    """Samples/s of what one DataLoader worker does (``dataset[i]`` in this process: decode, warp,
    augment, normalise, and the targets unless the dataset leaves them to the device), in each of
    :data:`WORKER_SETTINGS` the dataset offers: pose 'targets', 'no_targets' and 'uint8',
    segmentation 'sample' (normalised by the worker) and 'uint8'."""
    if hasattr(dataset, "draw_targets"):
        settings = WORKER_SETTINGS
    elif hasattr(dataset, "normalize_images"):  # no targets to leave out
        settings = {"sample": {"normalize_images": True}, "uint8": {"normalize_images": False}}
    else:
        settings = {"sample": {}}
    before = {flag: getattr(dataset, flag) for chosen in settings.values() for flag in chosen}
    rates = {}
    try:
        for name, chosen in settings.items():
            for flag, value in chosen.items():
                setattr(dataset, flag, value)
            start = time.perf_counter()
            for i in range(samples):
                dataset[i]
            rates[name] = samples / (time.perf_counter() - start)
    finally:
        for flag, value in before.items():
            setattr(dataset, flag, value)
    return rates


def _phases(trainer: Trainer, batch: Any, device: torch.device, warmup: int,
            iters: int) -> tuple[dict[str, float], float]:
    """Median seconds of the forward, backward and optimizer phases of eager steps, synchronised,
    and the seconds of the first step (with ``train.compile`` its compile, on CUDA cuDNN's autotuning)."""
    first = 0.0
    times: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": []}
    out: dict[str, Any] = {}
    for i in range(warmup + iters):
        trainer.optimizer.zero_grad(set_to_none=True)
        spans = {"forward": _timed(lambda: out.update(trainer.forward(batch)), device),
                 "backward": _timed(lambda: trainer.backward(out), device),
                 "optimizer": _timed(trainer.optimizer_step, device)}
        if i == 0:
            first = sum(spans.values())
        if i >= warmup:
            for k, v in spans.items():
                times[k].append(v)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}, first


def format_table(r: Mapping[str, Any]) -> str:
    """The record as one Markdown table, with a line naming what was measured."""
    h, w = r["input_size"]

    def kernels(k: Mapping[str, int]) -> str:
        if "launches" in k:
            return f"{k['launches']} launches, {k['gpu_kernels']} GPU kernels"
        return f"{k['aten_ops']} aten ops"

    ph = r["phases_ms"]

    def loop(name: str, key: str) -> str:
        rate, wait = r[f"{key}images_per_s"], r[f"{key}data_wait"]
        return (f"| real loop, {name} ({r['loop_iters']} iterations, {r['num_workers']} workers) | {rate:.1f} | "
                f"{wait:.1%} ({wait * 1000 * r['batch'] / rate:.1f} ms/step) | | | | |")
    lines = [f"{r['model']} {h}x{w}, batch {r['batch']}, {r['device']} ({r['device_name']}), torch {r['torch']}, "
             f"{r['threads']} thread(s), AMP {'on' if r['amp'] else 'off'}; {r['speed']}"
             + (f"; cuda_graph: {r['graph_note']}" if r.get("graph_note") else "")
             + f"; first eager step {r['first_step_s']:.1f} s, first step of the run {r['first_graph_step_s']:.1f} s"
             + (" (the graph's capture)" if r["cuda_graph"] else ""),
             "",
             "| measure | images/s | data wait | forward ms | backward ms | optimizer ms | kernels per step |",
             "|---|---:|---:|---:|---:|---:|---|",
             f"| bare step, eager phases (synchronised) | {1000 * r['batch'] / sum(ph.values()):.1f} | - | "
             f"{ph['forward']:.1f} | {ph['backward']:.1f} | {ph['optimizer']:.1f} | {kernels(r['kernels_eager'])} |",
             f"| bare step{' (CUDA graph)' if r['cuda_graph'] else ''} | {r['step_images_per_s']:.1f} | - | | | | "
             f"{kernels(r['kernels_step'])} |",
             loop("first epoch", "first_loop_"), loop("next epoch", "loop_"),
             f"| the DataLoader alone, no step ({r['loop_iters'] - 1} batches, {r['num_workers']} workers) | "
             f"{r['loader_images_per_s']:.1f} | | | | | |"]
    lines += [f"| one worker's samples/s{WORKER_LABELS[name]} | {rate:.1f} | | | | | |"
              for name, rate in r["worker_samples_per_s"].items()]
    return "\n".join(lines)


__all__ = ["bench_config", "bench_train", "format_table", "kernels_per_step", "machine_name", "task_of"]
