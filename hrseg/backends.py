"""Runners: one call signature for every inference backend.

``load_runner(backend, model_or_file)`` returns an ``nn.Module`` whose forward takes an NCHW
float32 tensor (normalised as the file's metadata says) and returns a float32 tensor on the CPU,
like the torch model's forward, so the task code (pose crops, segmentation windows) runs any
backend unchanged:

- ``torch``: the model through :func:`hrseg.inference.optimize.optimize_for_inference` (BatchNorm
  folded, channels_last, in the given dtype);
- ``onnxruntime``: an exported ``.onnx`` file (CPU execution provider, float32);
- ``openvino``: an exported ``.xml`` IR or ``.onnx`` file on the CPU plugin, float32 or bfloat16
  (OpenVINO's inference precision hint; native on CPUs with AVX512-BF16 / AMX).

Given a model instead of a file, the ONNX Runtime and OpenVINO runners export it on the fly into a
cache (:func:`hrseg.export.export_cached`). The default backend (``None`` or ``"auto"``) is the
fastest one installed, in the order measured on this project's CPU (OpenVINO, ONNX Runtime, torch),
and is logged.

A runner has a zero-size float32 parameter so that ``next(model.parameters())`` (which the task
code uses to find the device and input dtype) works for the backends that hold no torch weights.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from hrseg.errors import CheckpointError, ConfigError
from hrseg.export.files import installed, load_openvino, require
from hrseg.export.meta import format_of, read_meta
from hrseg.inference.optimize import DTYPES, optimize_for_inference

log = logging.getLogger("hrseg")

BACKENDS = ("torch", "onnxruntime", "openvino")
# Fastest first, as measured for pose_hrnet_w32 256x192 batch 8 on this project's CPU (issue 13).
SPEED_ORDER = ("openvino", "onnxruntime", "torch")


def available_backends() -> list[str]:
    """The backends whose packages are installed (torch always)."""
    return [b for b in BACKENDS if b == "torch" or installed(b)]


def default_backend() -> str:
    """The fastest installed backend."""
    have = available_backends()
    return next(b for b in SPEED_ORDER if b in have)


class Runner(nn.Module):
    """Base: ``backend`` and ``meta`` (the exported file's record, None for a bare torch model)."""

    backend = "?"

    def __init__(self, meta: Mapping[str, Any] | None, source: str) -> None:
        super().__init__()
        self._device_anchor = nn.Parameter(torch.zeros(0), requires_grad=False)
        self.meta = dict(meta) if meta else None
        self.source = source

    def check_input(self, x: torch.Tensor) -> None:
        """One clear error when ``x`` does not fit the exported graph (fixed batch or size)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ConfigError(f"{self.source}: expected an (N, 3, H, W) tensor, got shape {tuple(x.shape)}")
        if not self.meta:
            return
        h, w = self.meta["input_size"]
        if not self.meta.get("dynamic_size") and tuple(x.shape[2:]) != (h, w):
            raise ConfigError(f"{self.source}: exported for {h}x{w} inputs, got {x.shape[2]}x{x.shape[3]} "
                              "(export again with that --input-size, or a segmentation model with dynamic size)")
        if not self.meta.get("dynamic_batch") and x.shape[0] != 1:
            raise ConfigError(f"{self.source}: exported with batch 1, got a batch of {x.shape[0]} "
                              "(export again with --dynamic-batch)")

    def extra_repr(self) -> str:
        return f"backend={self.backend}, source={self.source}"


class TorchRunner(Runner):
    backend = "torch"

    def __init__(self, model: nn.Module, dtype: str = "float32") -> None:
        super().__init__(None, type(model).__name__)
        self.dtype = dtype
        self.model = optimize_for_inference(getattr(model, "module", model).eval(), dtype=DTYPES[dtype])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, path: Path, meta: Mapping[str, Any], threads: int | None = None) -> None:
        super().__init__(meta, str(path))
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own types for bad graphs
            raise CheckpointError(f"{path}: ONNX Runtime cannot load it ({str(e).strip().splitlines()[0]})") from None
        self.dtype = "float32"
        _check_graph(path, meta, [tuple(i.shape) for i in self.session.get_inputs()],
                     [tuple(o.shape) for o in self.session.get_outputs()])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return torch.from_numpy(self.session.run(None, {self.input_name: _as_numpy(x)})[0])


def openvino_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin runs bfloat16 natively here."""
    ov = require("openvino")
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoRunner(Runner):
    backend = "openvino"

    def __init__(self, path: Path, meta: Mapping[str, Any], dtype: str | None = None,
                 threads: int | None = None) -> None:
        super().__init__(meta, str(path))
        ov = require("openvino")
        model = load_openvino(path) if path.suffix.lower() == ".xml" else _read_onnx_with_openvino(ov, path)
        self.dtype = dtype or meta.get("dtype", "float32")
        if self.dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"OpenVINO runs float32 or bfloat16, not {self.dtype}")
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "bf16" if self.dtype == "bfloat16" else "f32"}
        self.ran_as = self.dtype
        if self.dtype == "bfloat16" and not openvino_has_bf16():
            log.warning("this CPU has no native bfloat16: OpenVINO runs %s in float32", path.name)
            config["INFERENCE_PRECISION_HINT"] = "f32"
            self.ran_as = "float32"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        _check_graph(path, meta, [_ov_shape(p) for p in model.inputs], [_ov_shape(p) for p in model.outputs])
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        result = self.request.infer({0: _as_numpy(x)})
        return torch.from_numpy(np.array(result[self.compiled.output(0)], dtype=np.float32, copy=True))


def _read_onnx_with_openvino(ov: Any, path: Path) -> Any:
    try:
        return ov.Core().read_model(str(path))
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path}: OpenVINO cannot read it ({str(e).strip().splitlines()[0]})") from None


def _ov_shape(port: Any) -> tuple:
    return tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())


def _static(dim: Any) -> int | None:
    try:
        return int(dim) if not isinstance(dim, str) and int(dim) >= 0 else None
    except (TypeError, ValueError, RuntimeError):
        return None


def _check_graph(path: Path, meta: Mapping[str, Any], inputs: list[tuple], outputs: list[tuple]) -> None:
    """The graph must be what its metadata says: one NCHW 3-channel input, one output with
    ``num_joints`` / ``num_classes`` channels (a file whose record was copied onto another
    model's graph is caught here)."""
    if len(inputs) != 1 or len(inputs[0]) != 4 or _static(inputs[0][1]) != 3:
        raise CheckpointError(f"{path}: expected one (N, 3, H, W) input, the graph has {inputs}")
    channels = meta.get("num_joints", meta.get("num_classes"))
    if not outputs or len(outputs[0]) != 4 or (channels is not None and _static(outputs[0][1]) != channels):
        what = f"{channels} {'keypoint heatmaps' if meta['task'] == 'pose' else 'class logits'}"
        raise CheckpointError(f"{path}: its metadata says {what} but the graph outputs {outputs[0] if outputs else 'nothing'}")
    h, w = meta["input_size"]
    if not meta.get("dynamic_size") and (_static(inputs[0][2]), _static(inputs[0][3])) != (h, w):
        raise CheckpointError(f"{path}: its metadata says {h}x{w} inputs but the graph takes {inputs[0]}")


def _check_expected(path: Path, meta: Mapping[str, Any], expect: Mapping[str, Any] | None) -> None:
    for key, value in (expect or {}).items():
        got = meta.get(key)
        if key == "input_size" and meta.get("dynamic_size"):
            continue
        if (list(got) if isinstance(got, (list, tuple)) else got) != (list(value) if isinstance(value, (list, tuple)) else value):
            raise CheckpointError(f"{path}: exported for {key} {got!r}, but {value!r} is needed here "
                                  f"(the file holds {meta['model']}, {meta['task']})")


def load_runner(backend: str | None, model_or_file: nn.Module | str | os.PathLike, *, dtype: str | None = None,
                threads: int | None = None, expect: Mapping[str, Any] | None = None, name: str | None = None,
                input_size: tuple[int, int] | None = None, cache_dir: str | os.PathLike | None = None) -> Runner:
    """A runner for ``model_or_file`` on ``backend`` (None / 'auto': the fastest installed, logged).

    ``dtype``: float32 (default) or bfloat16 (torch and OpenVINO); for a file, its recorded dtype.
    ``expect``: metadata values the caller needs (e.g. ``{"task": "pose", "num_joints": 17}``);
    a file that records others is a CheckpointError. A model given to onnxruntime / openvino is
    exported into the cache first, which needs its registry ``name`` and ``input_size`` (H, W).
    """
    if backend in (None, "auto"):
        backend = default_backend()
        log.info("backend: %s (the fastest installed of %s)", backend, ", ".join(available_backends()))
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose {', '.join(BACKENDS)} or auto")
    if backend != "torch":
        require(backend)
    if isinstance(model_or_file, nn.Module):
        if backend == "torch":
            return TorchRunner(model_or_file, dtype or "float32")
        if name is None or input_size is None:
            raise ConfigError(f"the {backend} backend needs the model's name and input size to export it")
        from hrseg.export import export_cached

        fmt = "openvino" if backend == "openvino" else "onnx"
        model_or_file = export_cached(model_or_file, name, input_size, fmt, dtype or "float32", cache_dir)
    path = Path(model_or_file)
    if backend == "torch":
        raise ConfigError(f"{path}: the torch backend runs a model and its checkpoint, not an exported file; "
                          "choose --backend onnxruntime or openvino")
    if backend == "onnxruntime" and format_of(path) != "onnx":
        raise ConfigError(f"{path}: ONNX Runtime runs .onnx files; run an OpenVINO IR with --backend openvino")
    meta = read_meta(path)
    _check_expected(path, meta, expect)
    if backend == "onnxruntime":
        if (dtype or meta["dtype"]) != "float32":
            raise ConfigError(f"{path}: ONNX Runtime's CPU provider runs float32 only; use openvino for bfloat16")
        return OnnxRuntimeRunner(path, meta, threads)
    return OpenVinoRunner(path, meta, dtype, threads)
