"""Runners: one call signature for every inference backend.

``load_runner(backend, model_or_file)`` returns an ``nn.Module`` whose forward takes an NCHW
float32 tensor (normalised as the file's metadata says) and returns a float32 tensor on the CPU,
like the torch model's forward, so the task code (pose crops, segmentation windows) runs any
backend unchanged; a detector's runner takes and returns what torchvision's detectors do (a list
of (3, H, W) images in [0, 1]; a list of dicts of boxes, labels, scores). :data:`BACKENDS` is
the one list of them (the tools' ``--backend`` choices, ``test.backend``, the benchmark's rows):

- ``torch``: eager PyTorch, the model as built (float32): the reference the others are checked
  against;
- ``optimized``: :func:`hrseg.inference.optimize.optimize_for_inference` (BatchNorm folded,
  channels_last, in the given dtype);
- ``compiled``: the optimized model through ``torch.compile`` (Inductor, weights frozen; the first
  call compiles, tens of seconds, and needs a C++ compiler);
- ``onnxruntime``: an exported ``.onnx`` file (CPU execution provider, float32);
- ``openvino``: an exported ``.xml`` IR or ``.onnx`` file on the CPU plugin, float32 or bfloat16
  (OpenVINO's inference precision hint; native on CPUs with AVX512-BF16 / AMX).

Given a model instead of a file, the ONNX Runtime and OpenVINO runners export it on the fly into a
cache (:func:`hrseg.export.export_cached`). The default backend (``None`` or ``"auto"``) is the
fastest one installed, in the order measured on this project's CPU (:data:`SPEED_ORDER`:
OpenVINO, ONNX Runtime, the optimized PyTorch model), and is logged in one line; a model that
does not export (or whose export fails its self-check) runs optimized instead, with a warning.

A runner has a zero-size float32 parameter on the model's device so that
``next(model.parameters())`` (which the task code uses to find the device and input dtype) works
for the backends that hold no torch weights.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from torch import nn

from hrseg.errors import CheckpointError, ConfigError, HrsegError
from hrseg.export import export_cached
from hrseg.export.files import exported_files, installed, require
from hrseg.export.meta import format_of
from hrseg.export.runners import ExportedFile, Runner, file_runner
from hrseg.export.runners import OnnxRuntimeRunner, OpenVinoRunner, openvino_has_bf16  # noqa: F401
from hrseg.inference.optimize import compile_errors, torch_model
from hrseg.inference.predictor import Predictor
from hrseg.meta.model_names import task_of_name

log = logging.getLogger("hrseg")

TORCH_BACKENDS = ("torch", "optimized", "compiled")
EXPORT_BACKENDS = ("onnxruntime", "openvino")
BACKENDS = TORCH_BACKENDS + EXPORT_BACKENDS
AUTO = "auto"
# Fastest first, as measured for pose_hrnet_w32 256x192 batch 8 on this project's CPU (issue 13);
# `compiled` is left out of the automatic choice: its first call compiles for tens of seconds.
SPEED_ORDER = ("openvino", "onnxruntime", "optimized")


def available_backends() -> list[str]:
    """The backends whose packages are installed (the PyTorch ones always)."""
    return [b for b in BACKENDS if b in TORCH_BACKENDS or installed(b)]


def default_backend(dtype: str = "float32") -> str:
    """The fastest installed backend that runs ``dtype`` (ONNX Runtime's CPU provider: float32)."""
    have = available_backends()
    return next(b for b in SPEED_ORDER if b in have and (b != "onnxruntime" or dtype == "float32"))


def file_backend(path: str | os.PathLike) -> str:
    """What runs an exported file: OpenVINO (the faster, measured; it reads .onnx files too) when
    installed, else ONNX Runtime for a .onnx file; a missing package is one error naming its extra."""
    if format_of(path) == "openvino" or installed("openvino"):
        return "openvino"
    return "onnxruntime"


def _auto_backend(model: nn.Module, name: str | None, dtype: str) -> str:
    """What ``auto`` runs ``model`` (registry ``name``) on, logged in one line with the reason."""
    device = next(model.parameters()).device
    task = task_of_name(name) if name else None
    if device.type != "cpu":
        backend, why = "optimized", f"the model is on {device}; ONNX Runtime and OpenVINO run here on the CPU"
    elif task in ("det", "multi"):  # its exported graph (proposals, NMS) is not measured faster, and exports for seconds
        backend, why = "torch", "detectors run eagerly unless --backend onnxruntime|openvino is given"
    elif name is None:
        backend, why = "optimized", "no model name to export it under"
    else:
        backend, why = default_backend(dtype), "fastest installed"
    log.info("backend: %s (%s%s)", backend, why, "" if backend == "torch" else "; --backend torch for eager PyTorch")
    return backend


class TorchRunner(Runner):
    """The PyTorch backends: ``torch`` (eager), ``optimized`` or ``compiled``
    (:func:`hrseg.inference.optimize.torch_model`)."""

    def __init__(self, model: nn.Module, backend: str = "optimized", dtype: str = "float32") -> None:
        model = getattr(model, "module", model).eval()
        super().__init__(None, type(model).__name__, next(model.parameters()).device)
        self.backend, self.dtype = backend, dtype
        self.model = torch_model(model, backend, dtype)

    def forward(self, x: Any) -> Any:
        if self.backend != "compiled":
            return self.model(x)
        try:
            return self.model(x)
        except Exception as e:  # noqa: BLE001 - the first call compiles: a broken compiler shows here
            if not isinstance(e, compile_errors()):
                raise
            cause = getattr(e, "inner_exception", e)  # BackendCompilerFailed wraps what the compiler said
            first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
            raise ConfigError(f"--backend compiled: torch.compile failed on this machine ({first[:300]}); "
                              "it needs a working C++ compiler (g++ or clang++, or $CXX); run --backend "
                              "optimized instead") from None


def load_runner(backend: str | None, model_or_file: nn.Module | str | os.PathLike, *, dtype: str | None = None,
                threads: int | None = None, expect: Mapping[str, Any] | None = None, name: str | None = None,
                input_size: tuple[int, int] | None = None, cache_dir: str | os.PathLike | None = None,
                check: Callable[[], Predictor] | None = None) -> Runner:
    """A runner for ``model_or_file`` on ``backend`` (None / 'auto': the fastest installed, logged).

    ``dtype``: float32 (default) or bfloat16 (optimized, compiled, OpenVINO); for a file, its
    recorded dtype. ``expect``: metadata values the caller needs (e.g. ``{"task": "pose",
    "num_joints": 17}``); a file that records others is a CheckpointError. A model given to
    onnxruntime / openvino is exported into the cache first, which needs its registry ``name``
    and ``input_size`` (H, W); ``check`` makes the task's predictor of the eager model, which the
    export's self-check then runs through (:func:`hrseg.export.export_cached`).
    """
    auto = backend in (None, AUTO)
    if not auto and backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose {', '.join(BACKENDS)} or {AUTO}")
    if isinstance(model_or_file, ExportedFile):  # a file given as the weights (its dtype: the config's, the file's)
        model_or_file = model_or_file.path
    if isinstance(model_or_file, nn.Module):
        if dtype == "int8":
            raise ConfigError("test.dtype int8: a checkpoint runs in float32 or bfloat16; int8 is an exported "
                              "file's, calibrated: hrseg export ... --dtype int8, then that file as --weights")
        model = getattr(model_or_file, "module", model_or_file).eval()
        if auto:
            backend = _auto_backend(model, name, dtype or "float32")
        if backend in TORCH_BACKENDS:
            return TorchRunner(model, backend, dtype or "float32")
        try:
            model_or_file = _exported(model, backend, name, input_size, dtype, cache_dir, check)
        except HrsegError as e:
            if not auto:
                raise
            log.warning("backend: optimized instead of %s, which cannot run this model (%s)", backend, e)
            return TorchRunner(model, "optimized", dtype or "float32")
        try:
            return file_runner(backend, model_or_file, dtype=dtype, threads=threads, expect=expect)
        except CheckpointError as e:  # a damaged file in the cache (cut short, edited): exported again
            log.warning("%s: the cached export does not load (%s); exporting it again", model_or_file, e)
            for part in exported_files(model_or_file):
                part.unlink(missing_ok=True)
            model_or_file = _exported(model, backend, name, input_size, dtype, cache_dir, check)
    elif auto:
        backend = file_backend(model_or_file)
        log.info("backend: %s (an exported file runs on ONNX Runtime or OpenVINO)", backend)
    return file_runner(backend, Path(model_or_file), dtype=dtype, threads=threads, expect=expect)


def _exported(model: nn.Module, backend: str, name: str | None, input_size: tuple[int, int] | None,
              dtype: str | None, cache_dir: str | os.PathLike | None, check: Callable[[], Predictor] | None) -> Path:
    """``model`` exported for ``backend`` (from the cache when it is there)."""
    require(backend)
    if name is None or input_size is None:
        raise ConfigError(f"the {backend} backend needs the model's name and input size to export it")
    fmt = "openvino" if backend == "openvino" else "onnx"
    return export_cached(model, name, input_size, fmt, dtype or "float32", cache_dir, predictor=check)


def inference_runner(model: nn.Module, test_cfg: Mapping[str, Any], name: str, input_size: tuple[int, int],
                     check: Callable[[], Predictor] | None = None) -> nn.Module:
    """What the tools predict with, on ``test.backend`` (None / ``auto``: the fastest installed,
    logged): ``name`` and ``input_size`` (H, W) are the registry name and the size to export at.
    The validation during training uses :func:`hrseg.inference.optimize.inference_model`."""
    return load_runner(test_cfg.get("backend"), getattr(model, "module", model).eval(),
                       dtype=test_cfg.get("dtype"), name=name,
                       input_size=tuple(int(v) for v in input_size), check=check)
