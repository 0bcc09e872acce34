"""Export: the BatchNorm-folded graph to ONNX or OpenVINO IR, with its metadata, checked against
eager PyTorch on a real photograph before it is moved into place.

    report = export_model(model, "pose.onnx", "pose_hrnet_w32", (256, 192), dynamic_batch=True)
    print(report.check.summary())

A file whose check fails is not written (:class:`ExportCheckError` carries the numbers).
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from hrseg.errors import ConfigError
from hrseg.export.check import MIN_SCORE, CheckReport, ExportCheckError, check_image_of, default_check_image, self_check
from hrseg.export.files import DetectorGraph, exported_files, write_onnx, write_openvino
from hrseg.export.meta import build_meta, format_of, read_meta, task_of
from hrseg.export.quantize import quantize_onnx
from hrseg.export.runners import file_runner
from hrseg.inference.optimize import optimize_for_inference
from hrseg.inference.predictor import Predictor
from hrseg.utils.io import output_folder
from hrseg.weights.cache import hrseg_home

__all__ = ["EXPORT_DTYPES", "CheckReport", "ExportCheckError", "ExportReport", "check_image_of",
           "default_check_image", "export_cached",
           "export_model", "read_meta", "self_check"]

log = logging.getLogger("hrseg")
EXPORT_DTYPES = ("float32", "bfloat16", "int8")


@dataclass
class ExportReport:
    files: list[Path]
    meta: dict
    check: CheckReport | None
    seconds: float


def export_model(model: nn.Module, path: str | os.PathLike, name: str, input_size: tuple[int, int], *,
                 dtype: str = "float32", dynamic_batch: bool = False, dynamic_size: bool | None = None,
                 check_image: str | os.PathLike | None = None, check: bool = True,
                 predictor: Predictor | None = None, config: Mapping[str, Any] | None = None,
                 calibration: Iterable[np.ndarray] | None = None) -> ExportReport:
    """Write ``model`` (registry ``name``) to ``path`` (``.onnx``, or ``.xml`` + ``.bin`` for
    OpenVINO) at ``input_size`` (H, W).

    ``dtype`` bfloat16 is OpenVINO's (the IR keeps float32 weights and records the precision to
    compile with); int8 quantises the graph for either back end (a detector's backbone only:
    :func:`~hrseg.export.quantize.quantize_onnx`) on ``calibration``, the inputs the graph will
    see (arrays shaped as its input: the task's crops, windows or images). ``dynamic_size``
    (default: segmentation yes, pose no) leaves H and W free.
    Unless ``check`` is False, the file is run on ``check_image`` (a path or an RGB array; default:
    the shared data's photograph, else a synthetic scene: :func:`~hrseg.export.check.check_image_of`)
    and compared with eager ``model``, through ``predictor`` (the task's, on eager ``model``: every
    forward it makes on the image, :func:`~hrseg.export.check.check_through`) when given; outside
    the tolerance nothing is written and :class:`ExportCheckError` says by how much.
    ``config``: the config the file runs with when given as the weights (``hrseg infer``), recorded.
    """
    start = time.perf_counter()
    target = Path(path)
    fmt = format_of(target)
    if dtype not in EXPORT_DTYPES:
        raise ConfigError(f"export dtype must be one of {', '.join(EXPORT_DTYPES)}, got {dtype!r}")
    if fmt == "onnx" and dtype == "bfloat16":
        raise ConfigError("ONNX Runtime's CPU provider has no bfloat16 convolutions: export bfloat16 with "
                          "--format openvino, or float32 to ONNX")
    if (dtype == "int8") != (calibration is not None):
        raise ConfigError("an int8 export needs calibration inputs, and only an int8 export takes them")
    if dynamic_size is None:
        dynamic_size = task_of(name) == "segmentation"
    model = getattr(model, "module", model)
    was_training = model.training
    meta = build_meta(model, name, input_size, dtype, dynamic_batch, dynamic_size)
    if config is not None:
        meta["config"] = json.loads(json.dumps(config, default=str))
    if meta["task"] == "detection":  # the exporter folds the BatchNorms of a traced eval-mode graph
        folded = DetectorGraph(copy.deepcopy(model).eval(), meta["outputs"])
    else:
        folded = optimize_for_inference(model.eval(), channels_last=False)  # float32, BatchNorm folded
    model.train(was_training)
    if check:  # an unreadable photograph stops the export before its folder is made
        check_image_of(meta["task"], check_image)
    with output_folder(target.parent), tempfile.TemporaryDirectory(prefix=f".{target.stem}.", dir=target.parent) as tmp:
        staged = Path(tmp) / f"{target.stem}.onnx"
        write_onnx(folded, staged, meta)
        if dtype == "int8":
            staged = quantize_onnx(staged, staged.with_name(f"{target.stem}.int8.onnx"), calibration, meta)
        if fmt == "openvino":
            staged = write_openvino(staged, staged.with_suffix(".xml"), meta)
        report = None
        if check:
            backend = "openvino" if fmt == "openvino" else "onnxruntime"
            report = self_check(model, file_runner(backend, staged), meta, check_image, backend, predictor)
            log.info("%s", report.summary())
            if report.decoded.get("detections") == 0:
                log.warning("the check photograph gave no detection scoring %.2g or more: only the graph's running "
                            "was checked; pass --check-image with a photograph of the model's classes",
                            max(MIN_SCORE, float(meta.get("score_thresh", 0.0))))
            if not report.ok:
                raise ExportCheckError(f"{target}: not written; {report.summary()}")
        files = []
        for src in reversed(exported_files(staged)):  # an IR's .bin before its .xml
            dst = target.with_suffix(src.suffix)
            os.replace(src, dst)
            files.append(dst)
    return ExportReport(files=list(reversed(files)), meta=meta, check=report, seconds=time.perf_counter() - start)


def _fingerprint(model: nn.Module, *parts: object) -> str:
    h = hashlib.sha256(repr(parts).encode())
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """``$HRSEG_CACHE/exports`` when set, else ``exports`` beside the weights cache
    (``$HRSEG_HOME/exports``, by default ``<torch hub dir>/hrseg/exports``)."""
    return Path(os.environ["HRSEG_CACHE"]) / "exports" if os.environ.get("HRSEG_CACHE") else hrseg_home() / "exports"


def export_cached(model: nn.Module, name: str, input_size: tuple[int, int], fmt: str = "onnx",
                  dtype: str = "float32", directory: str | os.PathLike | None = None,
                  dynamic_size: bool | None = None, predictor: Callable[[], Predictor] | None = None) -> Path:
    """The exported file of ``model`` in the cache (:func:`cache_dir`), exported (dynamic batch,
    checked as :func:`export_model` checks, on the shared photograph or a synthetic scene) when not
    there yet. The key hashes the weights and the record (a detector's
    thresholds and sizes are in it), so a retrained or reconfigured model is exported again.
    ``predictor``: makes the task's predictor of eager ``model`` the check runs through (called
    only when the file is exported), else the check is the graph's."""
    suffix = {"onnx": ".onnx", "openvino": ".xml"}[fmt]
    model = getattr(model, "module", model)
    meta = build_meta(model, name, input_size, dtype, True, bool(dynamic_size))
    key = _fingerprint(model, meta, fmt, dynamic_size, torch.__version__)
    path = Path(directory or cache_dir()) / f"{name}_{input_size[0]}x{input_size[1]}_{dtype}_{key}{suffix}"
    if path.is_file():
        return path
    log.info("exporting %s to %s (first use of these weights on %s)", name, path, fmt)
    export_model(model, path, name, input_size, dtype=dtype, dynamic_batch=True, dynamic_size=dynamic_size,
                 predictor=predictor() if predictor is not None else None)
    return path
