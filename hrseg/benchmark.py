"""Model figures people compare: params, multiply-adds (both conventions), latency, throughput,
peak memory. ``tools/benchmark.py`` is the command-line front."""
from __future__ import annotations

import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from hrseg.backends import BACKENDS, TORCH_BACKENDS, load_runner
from hrseg.export import export_model
from hrseg.export.runners import file_runner
from hrseg.export.files import require
from hrseg.inference.optimize import torch_model
from hrseg.meta.model_names import task_of_name
from hrseg.models import build_model
from hrseg.utils.device import available_device
from hrseg.utils.flops import Complexity, count_params, measure_complexity
from hrseg.errors import ConfigError
from hrseg.errors import HrsegError


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
    peak_memory_mb: float | None  # None: not measured

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d


def prepare(model: nn.Module, mode: str, dtype: str = "float32") -> nn.Module:
    """'eager' (as built), 'optimized' or 'compiled': :func:`hrseg.inference.optimize.torch_model`
    (the backends of the same names, eager being ``torch``); ValueError for an unknown mode or a
    dtype the mode does not run."""
    try:
        return torch_model(model, "torch" if mode == "eager" else mode, dtype)
    except ConfigError as e:
        raise ValueError(str(e)) from None


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
    dev = available_device(device, "bench")
    model = build_model(name, **overrides).to(dev)
    complexity = measure_complexity(model, input_size)
    runner = prepare(model, mode, dtype)
    x = torch.randn(batch, 3, *input_size, device=dev)
    seconds = time_forward(runner, x, warmup, iters)
    return BenchmarkResult(
        model=name, input_size=tuple(input_size), batch=batch, device=str(dev), mode=mode, dtype=dtype,
        params=complexity.params, gmacs=complexity.gmacs, gflops_paper=complexity.gflops_paper,
        latency_ms=seconds * 1000, throughput=batch / seconds,
        peak_memory_mb=peak_memory_mb(name, input_size, batch, mode, dev, overrides, dtype) if memory else None,
    )


def format_result(r: BenchmarkResult) -> str:
    h, w = r.input_size
    return (f"{r.model} @ {h}x{w}, batch {r.batch}, {r.device}, {r.mode}, {r.dtype}\n"
            f"  params        {r.params / 1e6:10.2f} M ({r.params:,})\n"
            f"  GFLOPs paper  {r.gflops_paper:10.2f}   (multiply-adds / 2^30, as the HRNet papers count)\n"
            f"  GMACs         {r.gmacs:10.2f}   (multiply-adds / 1e9)\n"
            f"  latency       {r.latency_ms:10.1f} ms per batch\n"
            f"  throughput    {r.throughput:10.2f} images/s\n"
            + (f"  peak memory   {r.peak_memory_mb:10.1f} MB for one forward pass, above the resting model"
               if r.peak_memory_mb is not None else "  peak memory   not measured (--no-memory)"))


# The input size (H, W) each task's models are usually quoted at: COCO pose crops, Cityscapes
# frames, COCO detection images (the detectors and the multi-task model, a detector with more heads).
STANDARD_SIZES = {"pose": (256, 192), "seg": (1024, 2048), "det": (800, 1344), "multi": (800, 1344)}


def standard_input_size(name: str) -> tuple[int, int]:
    """The input size ``name``'s family is usually quoted at: :data:`STANDARD_SIZES` of its task
    (:func:`hrseg.meta.model_names.task_of_name`); the detectors' backbone and neck (``hrnetv2p_*``)
    at the detection size, the other bare backbones at ImageNet's 224x224."""
    task = task_of_name(name)
    if task is None and name.startswith("hrnetv2p_"):
        task = "det"
    return STANDARD_SIZES.get(task, (224, 224))


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


# -- backends side by side (hrseg.backends.BACKENDS; torch = hrseg eager): one table, ratios within one run --


def timm_reference(device: str = "cpu") -> nn.Module:
    """timm's ``hrnet_w32`` (features only, eager): the speed reference of the tables."""
    timm = require("timm")  # a dev dependency, only for this comparison
    return timm.create_model("hrnet_w32", features_only=True, feature_location="",
                             out_indices=(1, 2, 3, 4)).eval().to(device)


def conv_roofline_gflops(iters: int = 5, rounds: int = 5, dtype: str = "float32") -> float:
    """GFLOP/s of a large 3x3 convolution (4x256x64x64 -> 256 channels, channels_last, through
    oneDNN) in ``dtype``: the most this CPU gives a convolution network, measured now. bfloat16's
    is about twice float32's where the CPU has native bfloat16 dot products (AVX512-BF16), far more
    with AMX tiles, and below float32's where bfloat16 is emulated.

    The best of ``rounds`` timings of ``iters`` calls: a ceiling is what the CPU can do, and a
    single timing on a virtual machine can land in a slow moment (89 against 140 GFLOP/s ten
    minutes apart on the same quiet machine), which would inflate every row's share of it."""
    kind = getattr(torch, dtype)
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).eval().to(dtype=kind, memory_format=torch.channels_last)
    x = torch.randn(4, 256, 64, 64).to(dtype=kind, memory_format=torch.channels_last)
    seconds = min(time_forward(conv, x, warmup=2 if i == 0 else 0, iters=iters) for i in range(rounds))
    return 2 * 4 * 256 * 256 * 9 * 64 * 64 / seconds / 1e9


def backend_runner(model: nn.Module, name: str, backend: str, dtype: str, input_size: tuple[int, int],
                   cache: str | None = None) -> Callable[[torch.Tensor], object]:
    """The callable that runs ``model`` on ``backend`` in ``dtype``; ValueError (with the reason)
    for a combination that does not exist."""
    if dtype == "int8":
        if backend in TORCH_BACKENDS:
            raise ValueError("int8 is an exported file's: onnxruntime or openvino")
        return _int8_runner(model, name, backend, input_size, cache)
    if backend in TORCH_BACKENDS:
        return prepare(model, "eager" if backend == "torch" else backend, dtype)

    if backend == "onnxruntime" and dtype != "float32":
        raise ValueError("no bfloat16 on ONNX Runtime's CPU provider")
    try:
        return load_runner(backend, model, dtype=dtype, name=name, input_size=input_size, cache_dir=cache,
                           threads=torch.get_num_threads())
    except HrsegError as e:
        raise ValueError(str(e)) from None


def _int8_runner(model: nn.Module, name: str, backend: str, input_size: tuple[int, int], cache: str | None
                 ) -> Callable[[torch.Tensor], object]:
    """``model`` exported in int8 (dynamic batch) and opened on ``backend``. Calibrated on random inputs
    and not checked: a speed figure only (the kernels' speed does not depend on the ranges)."""
    if backend not in ("onnxruntime", "openvino") or task_of_name(name) not in ("pose", "seg"):
        raise ValueError("int8: pose and segmentation models on onnxruntime or openvino")
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, 3, *input_size), dtype=np.float32) for _ in range(4)]
    suffix = ".xml" if backend == "openvino" else ".onnx"
    path = Path(cache or ".") / f"{name}_{input_size[0]}x{input_size[1]}_int8{suffix}"
    try:
        export_model(model, path, name, input_size, dtype="int8", dynamic_batch=True, check=False,
                     calibration=samples)
        return file_runner(backend, path, threads=torch.get_num_threads())
    except HrsegError as e:
        raise ValueError(str(e)) from None


def backend_table(name: str, input_size: tuple[int, int], batch: int, backends: list[str], dtypes: list[str],
                  iters: int = 5, cache: str | None = None, progress: Callable[[str], None] = print
                  ) -> dict[str, Any]:
    """img/s of ``name`` on each backend x dtype, with timm eager and the convolution roofline of
    float32 and of each dtype asked for measured first in the same process; rows as dicts (``note``
    says why a row did not run). A row's share of its own dtype's roofline says how far a backend
    is from what this CPU can do in that dtype; the roofline over the model's multiply-adds bounds
    its speed-up over timm."""
    import tempfile

    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ConfigError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    # int8 has no torch convolution to time: its rows have no roofline of their own
    rooflines = {dtype: conv_roofline_gflops(dtype=dtype) for dtype in dict.fromkeys(["float32", *dtypes])
                 if dtype != "int8"}
    for dtype, gflops in rooflines.items():
        progress(f"{dtype} 3x3-convolution roofline: {gflops:.0f} GFLOP/s")
    x = torch.randn(batch, 3, *input_size)
    timm_ips = batch / time_forward(timm_reference(), x, iters=iters)
    progress(f"timm hrnet_w32 eager: {timm_ips:.2f} img/s")
    model = build_model(name).eval()
    gmacs = measure_complexity(model, input_size).gmacs
    bounds = {dtype: gflops / (2 * gmacs) for dtype, gflops in rooflines.items()}  # img/s each roofline allows
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            for dtype in dtypes:
                row: dict[str, Any] = {"backend": backend, "dtype": dtype}
                try:
                    start = time.perf_counter()
                    runner = backend_runner(model, name, backend, dtype, input_size, cache or tmp)
                    row["setup_s"] = time.perf_counter() - start
                    ips = batch / time_forward(runner, x, iters=iters)
                    row.update(img_s=ips, vs_timm=ips / timm_ips, roofline_pct=100 * ips / bounds["float32"])
                    if dtype in bounds:
                        row["dtype_roofline_pct"] = 100 * ips / bounds[dtype]
                    if getattr(runner, "ran_as", dtype) != dtype:
                        row["note"] = f"ran as {runner.ran_as}: no native {dtype} on this CPU"

                except ValueError as e:
                    row["note"] = str(e)
                progress(format_backend_row(row))
                rows.append(row)
    return {"model": name, "input_size": list(input_size), "batch": batch, "gmacs": gmacs, "threads":
            torch.get_num_threads(), "roofline_gflops": rooflines["float32"], "rooflines_gflops": rooflines,
            "roofline_img_s": bounds, "timm_img_s": timm_ips, "rows": rows}


def format_backend_row(row: Mapping[str, Any]) -> str:
    if "img_s" not in row:
        return f"| {row['backend']} | {row['dtype']} | - | - | - | - | {row.get('note', '')} |"
    return (f"| {row['backend']} | {row['dtype']} | {_rate(row['img_s'])} | {row['vs_timm']:.2f}x | "
            f"{row['roofline_pct']:.0f}% | {_percent(row.get('dtype_roofline_pct'))} | setup {row['setup_s']:.1f} s "
            f"{row.get('note', '')}|")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _rate(img_s: float) -> str:
    """Three significant digits: 8.2 img/s for a pose batch, 0.0551 for a 1024x2048 segmentation."""
    return f"{img_s:.1f}" if img_s >= 10 else f"{img_s:.3g}"


def format_backend_table(result: Mapping[str, Any]) -> str:
    """The Markdown table of :func:`backend_table`."""
    h, w = result["input_size"]
    bounds = "; ".join(f"{dtype} 3x3-conv roofline {gflops:.0f} GFLOP/s = {_rate(result['roofline_img_s'][dtype])} "
                       f"img/s ({result['roofline_img_s'][dtype] / result['timm_img_s']:.2f}x timm)"
                       for dtype, gflops in result["rooflines_gflops"].items())
    head = (f"{result['model']} {h}x{w}, batch {result['batch']}, {result['threads']} threads, {result['gmacs']:.2f} "
            f"GMAC/img: timm hrnet_w32 eager {_rate(result['timm_img_s'])} img/s; {bounds}\n\n"
            "| backend | dtype | img/s | vs timm hrnet_w32 eager (the fixed yardstick) | % of f32 roofline | "
            "% of its dtype's roofline | note |\n"
            "|---|---|---:|---:|---:|---:|---|")
    return "\n".join([head] + [format_backend_row(r) for r in result["rows"]])
