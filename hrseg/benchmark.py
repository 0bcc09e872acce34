"""Model figures people compare: params, multiply-adds (both conventions), latency, throughput,
peak memory. ``tools/benchmark.py`` is the command-line front."""
from __future__ import annotations

import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from hrseg.inference.optimize import DTYPES, optimize_for_inference
from hrseg.models import build_model
from hrseg.utils.flops import Complexity, count_params, measure_complexity


@dataclass
class BenchmarkResult:
    model: str
    input_size: tuple[int, int]
    batch: int
    device: str
    mode: str
    dtype: str
    params: int
    gmacs: float
    gflops_paper: float
    latency_ms: float
    throughput: float
    peak_memory_mb: float

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d


def prepare(model: nn.Module, mode: str, dtype: str = "float32") -> nn.Module:
    """'eager' (as built), 'optimized' (:func:`optimize_for_inference`), or 'compiled'
    (the optimized model through ``torch.compile`` with Inductor's weight freezing: the weights
    become constants, so convolutions get pre-packed weights and fused epilogues; the first call
    compiles, which takes tens of seconds on a CPU). ``dtype`` other than float32 applies to
    the optimized and compiled modes (:func:`optimize_for_inference`'s ``dtype``)."""
    model = model.eval()
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose {', '.join(DTYPES)}")
    if mode == "eager":
        if dtype != "float32":
            raise ValueError("eager mode runs in float32; use --mode optimized for another dtype")
        return model
    optimized = optimize_for_inference(model, dtype=DTYPES[dtype])
    if mode == "optimized":
        return optimized
    if mode == "compiled":
        return torch.compile(optimized, options={"freezing": True})
    raise ValueError(f"unknown mode {mode!r}; choose eager, optimized or compiled")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(fn: Callable[[torch.Tensor], object], x: torch.Tensor, warmup: int = 2,
                 iters: int = 5) -> float:
    """Mean seconds per call of ``fn(x)`` after ``warmup`` calls."""
    with torch.inference_mode():
        for _ in range(warmup):
            fn(x)
        _sync(x.device)
        start = time.perf_counter()
        for _ in range(iters):
            fn(x)
        _sync(x.device)
    return (time.perf_counter() - start) / iters


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    return float("nan")


def _first_forward_peak_mb(name: str, input_size: tuple[int, int], batch: int, mode: str,
                           overrides: dict[str, Any], dtype: str = "float32") -> float:
    """Run in a fresh process: resident memory added by the first forward pass (activations and
    workspace). A fresh process is needed because the C allocator keeps freed memory resident."""
    torch.set_num_threads(1)
    runner = prepare(build_model(name, **overrides), mode, dtype)
    x = torch.randn(batch, 3, *input_size)
    base = _proc_status_mb("VmRSS")
    with torch.inference_mode():
        runner(x)
    return _proc_status_mb("VmHWM") - base


def peak_memory_mb(name: str, input_size: tuple[int, int], batch: int, mode: str, device: torch.device,
                   overrides: dict[str, Any] | None = None, dtype: str = "float32") -> float:
    """Peak memory of one forward pass above the model's resting footprint, in MB: CUDA's
    allocator statistics on a GPU; on the CPU the resident-set growth in a fresh process."""
    overrides = overrides or {}
    if device.type == "cuda":
        runner = prepare(build_model(name, **overrides).to(device), mode, dtype)
        x = torch.randn(batch, 3, *input_size, device=device)
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with torch.inference_mode():
            runner(x)
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
    if not Path("/proc/self/status").exists():
        return float("nan")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_first_forward_peak_mb, (name, tuple(input_size), batch, mode, overrides, dtype))


def benchmark(name: str, input_size: tuple[int, int], batch: int = 1, mode: str = "optimized",
              device: str = "cpu", warmup: int = 2, iters: int = 5, memory: bool = True,
              dtype: str = "float32", **overrides: Any) -> BenchmarkResult:
    """Measure the named model (built with ``overrides``) at ``input_size`` (H, W)."""
    dev = torch.device(device)
    model = build_model(name, **overrides).to(dev)
    complexity = measure_complexity(model, input_size)
    runner = prepare(model, mode, dtype)
    x = torch.randn(batch, 3, *input_size, device=dev)
    seconds = time_forward(runner, x, warmup, iters)
    return BenchmarkResult(
        model=name, input_size=tuple(input_size), batch=batch, device=str(dev), mode=mode, dtype=dtype,
        params=complexity.params, gmacs=complexity.gmacs, gflops_paper=complexity.gflops_paper,
        latency_ms=seconds * 1000, throughput=batch / seconds,
        peak_memory_mb=peak_memory_mb(name, input_size, batch, mode, dev, overrides, dtype) if memory else float("nan"),
    )


def format_result(r: BenchmarkResult) -> str:
    h, w = r.input_size
    return (f"{r.model} @ {h}x{w}, batch {r.batch}, {r.device}, {r.mode}, {r.dtype}\n"
            f"  params        {r.params / 1e6:10.2f} M ({r.params:,})\n"
            f"  GFLOPs paper  {r.gflops_paper:10.2f}   (multiply-adds / 2^30, as the HRNet papers count)\n"
            f"  GMACs         {r.gmacs:10.2f}   (multiply-adds / 1e9)\n"
            f"  latency       {r.latency_ms:10.1f} ms per batch\n"
            f"  throughput    {r.throughput:10.2f} images/s\n"
            f"  peak memory   {r.peak_memory_mb:10.1f} MB for one forward pass, above the resting model")


def standard_input_size(name: str) -> tuple[int, int]:
    """The input size each family is usually quoted at: COCO pose crops, Cityscapes frames,
    COCO detection images, ImageNet crops for the bare backbones."""
    if name.startswith("pose_"):
        return (256, 192)
    if name.startswith("seg_"):
        return (1024, 2048)
    if name.startswith(("hrnetv2p_", "det_")):
        return (800, 1344)
    return (224, 224)


def complexity_table(names: list[str]) -> str:
    """A Markdown table of params and multiply-adds, counted on the meta device (no compute).

    A model's own ``input_size`` (the scaled families record theirs) overrides the family's
    usual size. Detectors have data-dependent steps (proposal filtering, NMS) that cannot run
    without data: their row counts the backbone and neck (marked with *)."""
    rows = ["| model | input | params | GFLOPs (paper: MACs/2^30) | GMACs (MACs/1e9) |",
            "|---|---|---:|---:|---:|"]
    for name in names:
        with torch.device("meta"):
            model = build_model(name)
        size = tuple(getattr(model, "input_size", None) or standard_input_size(name))
        mark = ""
        try:
            c = measure_complexity(model, size)
        except NotImplementedError:
            if not hasattr(model, "backbone"):
                raise
            c = measure_complexity(model.backbone, size)
            c = Complexity(count_params(model), c.macs)
            mark = "*"
        rows.append(f"| {name} | {size[0]}x{size[1]} | {c.params / 1e6:.2f}M | {c.gflops_paper:.1f}{mark} | "
                    f"{c.gmacs:.1f}{mark} |")
    return "\n".join(rows)
