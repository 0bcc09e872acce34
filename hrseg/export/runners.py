"""Runners of exported files: ONNX Runtime and OpenVINO behind the call signature of a torch
model (an NCHW float32 tensor in, a float32 tensor out; a detector's list of images in, its
list of dicts out). :func:`file_runner` opens an exported file on either; the export's own
self-check runs its staged file through it, and :mod:`hrseg.backends` builds on it."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from hrseg.errors import CheckpointError, ConfigError
from hrseg.export.files import load_openvino, require
from hrseg.export.meta import format_of, read_meta

log = logging.getLogger("hrseg")


class Runner(nn.Module):
    """Base: ``backend`` and ``meta`` (the exported file's record, None for a bare torch model)."""

    backend = "?"

    def __init__(self, meta: Mapping[str, Any] | None, source: str, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self._device_anchor = nn.Parameter(torch.zeros(0, device=device), requires_grad=False)
        self.meta = dict(meta) if meta else None
        self.source = source

    def check_input(self, x: torch.Tensor) -> None:
        """One clear error when ``x`` does not fit the exported graph's fixed size (a batch larger
        than a fixed-batch graph's one image runs an image a call: :meth:`forward`)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ConfigError(f"{self.source}: expected an (N, 3, H, W) tensor, got shape {tuple(x.shape)}")
        if not self.meta:
            return
        h, w = self.meta["input_size"]
        if not self.meta.get("dynamic_size") and tuple(x.shape[2:]) != (h, w):
            raise ConfigError(f"{self.source}: exported for {h}x{w} inputs, got {x.shape[2]}x{x.shape[3]} "
                              "(export again with that --input-size, or a segmentation model with dynamic size)")

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """The exported graph's outputs for one input array."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> Any:
        if self.meta and self.meta["task"] == "detection":  # torchvision's convention: one image a call
            return [{k: torch.from_numpy(np.array(v, copy=True)) for k, v in zip(self.meta["outputs"], self.run(
                _as_numpy(image)))} for image in x]
        self.check_input(x)
        one_at_a_time = self.meta is not None and not self.meta.get("dynamic_batch") and len(x) > 1
        inputs = [image[None] for image in x] if one_at_a_time else [x]  # copied: a backend reuses its buffers
        parts = [np.array(self.run(_as_numpy(part))[0], dtype=np.float32, copy=True) for part in inputs]
        return torch.from_numpy(parts[0] if len(parts) == 1 else np.concatenate(parts))

    def extra_repr(self) -> str:
        return f"backend={self.backend}, source={self.source}"


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
        self.dtype = meta.get("dtype", "float32")
        _check_graph(path, meta, [tuple(i.shape) for i in self.session.get_inputs()],
                     [tuple(o.shape) for o in self.session.get_outputs()])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: x})


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
        self.dtype = _file_dtype(path, meta, dtype)
        # an int8 graph's quantised layers run in int8 whatever the hint; the rest in float32
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

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        result = self.request.infer({0: x})
        return [result[port] for port in self.compiled.outputs]


def _file_dtype(path: Path, meta: Mapping[str, Any], dtype: str | None) -> str:
    """What the file ``path`` runs in: ``dtype`` (float32 or bfloat16) for a float graph, by default its
    recorded one; an int8 graph runs in int8 whatever is asked (its precision is in the graph)."""
    recorded = meta.get("dtype", "float32")
    if recorded == "int8" or dtype is None:
        return recorded
    if dtype == "int8":
        raise ConfigError(f"{path}: a {recorded} file; int8 is chosen when exporting (hrseg export --dtype int8)")
    if dtype not in ("float32", "bfloat16"):
        raise ConfigError(f"{path}: runs in float32 or bfloat16, not {dtype}")
    return dtype


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
    ``num_joints`` / ``num_classes`` channels (a detector: one (3, H, W) image, the outputs its
    record names); a file whose record was copied onto another model's graph is caught here."""
    if meta["task"] == "detection":
        if len(inputs) != 1 or len(inputs[0]) != 3 or _static(inputs[0][0]) != 3:
            raise CheckpointError(f"{path}: its metadata says a detector (one (3, H, W) image in) but the graph "
                                  f"takes {inputs}")
        if len(outputs) != len(meta.get("outputs", ())):
            raise CheckpointError(f"{path}: its metadata says the outputs {meta.get('outputs')} but the graph has "
                                  f"{len(outputs)}")
        return
    if len(inputs) != 1 or len(inputs[0]) != 4 or _static(inputs[0][1]) != 3:
        raise CheckpointError(f"{path}: expected one (N, 3, H, W) input, the graph has {inputs}")
    channels = meta.get("num_joints", meta.get("num_classes"))
    if channels is not None and meta.get("maps_per_joint"):
        channels *= int(meta["maps_per_joint"])
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


class ExportedFile(nn.Module):
    """An exported file where a model goes (``hrseg infer|test|serve --weights model.onnx``): it
    holds no weights; :func:`hrseg.backends.load_runner` opens the file on ONNX Runtime or OpenVINO.
    ``record``: the file's whole record; ``meta``: the model's meta it records (classes,
    keypoints, heads), as a loaded model carries it; ``classes`` and ``heads`` as a detector and the
    multi-task model have them."""

    def __init__(self, path: str | Path, record: Mapping[str, Any]) -> None:
        super().__init__()
        self._device_anchor = nn.Parameter(torch.zeros(0), requires_grad=False)
        self.path, self.record = Path(path), dict(record)
        self.parameter_count = int(record.get("parameters") or 0)  # the exported model's (Predictor.describe)
        self.meta = dict(record.get("model_meta") or {})
        self.classes = self.meta.get("classes") or record.get("classes") or None
        heads = self.meta.get("heads") or []
        self.heads = {head: head in heads for head in ("boxes", "masks", "keypoints", "segmentation")}
        self.keypoint_label = int(record.get("keypoint_label", 1))  # the multi-task model's keypoint class
        config_model = (record.get("config") or {}).get("model") or {}
        self.seg_classes = int(config_model.get("seg_classes") or len(self.meta.get("semantic_classes") or []))
        if "align_corners" in record:  # a segmentation file: its model's final resize (the predictor's test)
            self.align_corners = bool(record["align_corners"])

    def forward(self, *args: Any) -> Any:
        raise ConfigError(f"{self.path}: an exported file runs through its runner (hrseg.backends.load_runner)")

    def extra_repr(self) -> str:
        return f"path={self.path}, model={self.record.get('model')}"


def file_runner(backend: str, path: Path, *, dtype: str | None = None, threads: int | None = None,
                expect: Mapping[str, Any] | None = None) -> Runner:
    """The exported file ``path`` on ``backend`` (onnxruntime or openvino). ``dtype``: its
    recorded one unless given; ``expect``: metadata values the caller needs."""
    path = Path(path)
    if backend not in ("onnxruntime", "openvino"):
        raise ConfigError(f"{path}: the {backend} backend runs a model and its checkpoint, not an exported file; "
                          "choose --backend onnxruntime or openvino")
    require(backend)
    if backend == "onnxruntime" and format_of(path) != "onnx":
        raise ConfigError(f"{path}: ONNX Runtime runs .onnx files; run an OpenVINO IR with --backend openvino")
    meta = read_meta(path)
    _check_expected(path, meta, expect)
    if backend == "onnxruntime":
        if _file_dtype(path, meta, dtype) == "bfloat16":
            raise ConfigError(f"{path}: ONNX Runtime's CPU provider has no bfloat16 convolutions; use openvino for "
                              "bfloat16")
        return OnnxRuntimeRunner(path, meta, threads)
    return OpenVinoRunner(path, meta, dtype, threads)


