"""Writing and reading the exported files: ONNX through ``torch.onnx.export``, OpenVINO IR
converted from that ONNX graph. Optional dependencies are imported here, on first use, with one
clear error naming the extra to install when one is missing."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrseg.errors import CheckpointError, ConfigError, install_hint, missing_file

# import name -> (pip package, hrseg extra)
# module -> (its package, hrseg's extra that installs it)
OPTIONAL = {"onnx": ("onnx", "onnx"), "onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino"),
            "timm": ("timm", "dev")}
OPSET = 17


def require(module: str) -> Any:
    """Import an optional dependency, or raise ConfigError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package, extra = OPTIONAL.get(module, (module, module))
        raise ConfigError(f"{package} is not installed: {install_hint(extra)}, or pip install {package}") from None



def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class DetectorGraph(nn.Module):
    """A torchvision detector as an exportable graph: one (3, H, W) image in, the ``outputs`` of
    its result dict out as a tuple (the exporter takes tensors, not a list of dicts)."""

    def __init__(self, detector: nn.Module, outputs: list[str]) -> None:
        super().__init__()
        self.detector, self.outputs = detector, list(outputs)
        self.train(detector.training)  # the exporter puts the wrapper's mode back on the detector after

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        result = self.detector([image])[0]
        return tuple(result[k] for k in self.outputs)


def _graph_spec(meta: dict[str, Any]) -> tuple[torch.Tensor, list[str], list[str], dict[str, dict[int, str]] | None]:
    """The example input, input / output names and dynamic axes of ``meta``'s graph."""
    if meta["task"] == "detection":  # one image of any size; as many detections as it has
        outputs = list(meta["outputs"])
        axes = {"image": {1: "height", 2: "width"},
                **{k: {0: "height", 1: "width"} if k == "semantic" else {0: "detections"} for k in outputs}}
        return torch.rand(3, *meta["input_size"]), ["image"], outputs, axes
    axes: dict[int, str] = {}
    if meta["dynamic_batch"]:
        axes[0] = "batch"
    if meta["dynamic_size"]:
        axes.update({2: "height", 3: "width"})
    out_axes = {k: v if k == 0 else f"{v}/4" for k, v in axes.items()}
    return (torch.zeros(1, 3, *meta["input_size"]), ["input"], ["output"],
            {"input": axes, "output": out_axes} if axes else None)


def write_onnx(module: nn.Module, path: Path, meta: dict[str, Any]) -> Path:
    """Export ``module`` (float32, eval) at ``meta['input_size']`` to ``path`` with ``meta``
    embedded; the batch axis and/or the spatial axes dynamic as ``meta`` says (a detector,
    :class:`DetectorGraph`: any image size).

    The TorchScript-based exporter is used: it exports the BatchNorm-folded fx graph in under a
    second, where the dynamo exporter takes tens of seconds and splits the weights into a
    second file; and it is the exporter torchvision's detectors are made to trace with (their
    resize and NMS take the traced sizes as tensors)."""
    require("onnx")
    x, input_names, output_names, axes = _graph_spec(meta)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings about shape arithmetic, the exporter's deprecation note
        torch.onnx.export(module, (x,), str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    embed_meta(path, meta)
    return path


def embed_meta(path: Path, meta: dict[str, Any]) -> None:
    """Write ``meta`` into the ONNX file ``path`` as its ``hrseg`` record (replacing one there)."""
    onnx = require("onnx")
    graph = onnx.load(str(path))
    kept = [(p.key, p.value) for p in graph.metadata_props if p.key != "hrseg"]
    del graph.metadata_props[:]
    for key, value in [*kept, ("hrseg", json.dumps(meta))]:
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.producer_name = "hrseg"
    onnx.save(graph, str(path))


def write_openvino(onnx_path: Path, xml_path: Path, meta: dict[str, Any]) -> Path:
    """Convert an exported ONNX file to OpenVINO IR (``xml_path`` and its ``.bin``), weights kept
    in float32 (bfloat16 is chosen when compiling, from ``meta['dtype']``)."""
    ov = require("openvino")
    # Core.read_model runs the same ONNX front end as ov.convert_model without its Python-side
    # preprocessing pass (0.3 s instead of 5 s for a small model).
    model = ov.Core().read_model(str(onnx_path))
    model.set_rt_info(json.dumps(meta), ["hrseg"])
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return xml_path


def load_onnx(path: Path, weights: bool = True) -> Any:
    """The ONNX graph of ``path`` (CheckpointError naming it when unreadable)."""
    onnx = require("onnx")
    if not path.is_file():
        raise CheckpointError(missing_file(path, "exported model file"))
    try:
        return onnx.load(str(path), load_external_data=weights)
    except Exception as e:  # noqa: BLE001 - protobuf raises several types for a damaged file
        raise CheckpointError(f"{path}: not a readable ONNX file ({type(e).__name__}: {e})") from None


def load_openvino(path: Path) -> Any:
    """The OpenVINO model of an IR ``.xml`` (its ``.bin`` beside it)."""
    ov = require("openvino")
    bin_path = path.with_suffix(".bin")
    for p in (path, bin_path):
        if not p.is_file():
            raise CheckpointError(f"{missing_file(p, 'exported model file')} (an OpenVINO IR is a .xml and a .bin)")
    try:
        return ov.Core().read_model(str(path), str(bin_path))
    except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses with long texts
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable OpenVINO IR ({first})") from None


def exported_files(path: str | os.PathLike) -> list[Path]:
    """The files an exported model consists of (an OpenVINO IR has two)."""
    p = Path(path)
    return [p, p.with_suffix(".bin")] if p.suffix.lower() == ".xml" else [p]
