"""The service's models: each task's one predictor, loaded once, as the tools load it.

A served model is the task's predictor, built as :meth:`hrseg.tasks.base.Task.build_predictor`
builds it (``Task.load_model``, then ``Task.predictor``: the same weights loading, the same config
rule for files that record no model, the same runner, the same person detector in front of pose
with the same fallback and warning), the config it was built with (for the task's own tracking
wrapper, :meth:`ServedModel.tracking`) and what ``GET /v1/models`` says about it. The routes
only read the upload, call the predictor with the micro-batching stand-in of its runner
(:meth:`~hrseg.inference.predictor.Predictor.with_runner`), and encode its document. Given a
model name instead of weights, the model has random weights (seeded: for trying the service and
for load tests).

The default backend is the tools' default, ``auto``: the fastest installed (OpenVINO, else ONNX
Runtime, else the optimized PyTorch model; a detector runs eagerly), named in the log. With
OpenVINO or ONNX Runtime that exports the model at start-up, once per weights: about 15 s for
pose_hrnet_w32 on a two-core CPU, then from the export cache (under 2 s). ``--backend optimized``
starts without exporting.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np
import torch

from hrseg.backends import AUTO, BACKENDS
from hrseg.errors import ConfigError
from hrseg.inference.predictor import Predictor
from hrseg.meta.classes import coco80_categories
from hrseg.models.registry import list_models
from hrseg.tasks import detection, multi, pose, segmentation
from hrseg.weights import list_weights

TASKS = ("pose", "seg", "det", "multi")
TASK_NAMES = {"pose": "pose estimation", "seg": "segmentation", "det": "detection", "multi": "multi-task"}
CONTRACTS = {"pose": pose.TASK, "seg": segmentation.TASK, "det": detection.TASK, "multi": multi.TASK}

# --dtype: the pose config's test.dtype (segmentation and detection configs have none: float32)
DTYPES = ("float32", "bfloat16")


@dataclass
class ServedModel:
    task: str
    name: str
    source: str  # the checkpoint file or published name, or "random weights (seed N)"
    predictor: Predictor
    cfg: Mapping[str, Any]  # the task config the predictor was built with

    def meta(self) -> dict[str, Any]:
        """What ``GET /v1/models`` tells about this model."""
        return {"name": self.name, "weights": self.source, **self.predictor.describe()}

    def tracking(self, predictor: Predictor) -> Predictor:
        """``predictor`` (this model's, or its micro-batched copy) following objects across the
        frames of a video and smoothing their keypoints: the task's own tracking wrapper
        (:meth:`hrseg.tasks.base.Task.tracking`, what ``hrseg infer pose --track --smooth`` runs)
        with this config's ``test.track`` and ``test.smooth``; a new tracker on each call."""
        return CONTRACTS[self.task].tracking(predictor, self.cfg, smooth=True)


def _options(task: str, backend: str | None, dtype: str, cfg_options: Sequence[str]) -> list[str]:
    """``backend`` and ``dtype`` as the task config's ``test.backend`` / ``test.dtype`` (what the
    tools' ``--backend`` and ``--cfg-options test.dtype=...`` set), then the user's options, which
    win (``--det-options test.backend=torch`` beside ``--backend optimized`` for the others)."""
    if backend is not None and backend != AUTO and backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join((*BACKENDS, AUTO))}")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    known = CONTRACTS[task].defaults["test"]
    settings = {"backend": backend or AUTO}
    if "dtype" in known:
        settings["dtype"] = dtype
    elif dtype != "float32":
        raise ConfigError(f"--dtype {dtype}: {TASK_NAMES[task]} runs float32 only (test.dtype is pose's); "
                          f"for {dtype} pose beside it give --pose-options test.dtype={dtype} instead")
    return [f"test.{k}={v}" for k, v in settings.items()] + list(cfg_options)


def load_model(task: str, spec: str, backend: str | None = AUTO, cfg_options: Sequence[str] = (),
               seed: int = 0, dtype: str = "float32", config: str | os.PathLike | None = None,
               **predictor_options: Any) -> ServedModel:
    """The ``task`` model of ``spec`` (a checkpoint file, published weights by name, or a model
    name: random weights) as its predictor.

    ``cfg_options`` override the task config (``data.input_size=[128,96]``, ``test.flip=False``);
    ``config``: the config file for weights that record none (the tools' ``--config``);
    ``backend`` one of :data:`hrseg.backends.BACKENDS` or ``auto`` (None: auto); ``dtype``
    float32 or bfloat16 (pose). ``predictor_options`` are the task predictor's (pose:
    ``det_weights``, ``det_score_thr``, ``boxes_file``; detection: ``score_thr``).
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    contract = CONTRACTS[task]
    options = _options(task, backend, dtype, cfg_options)
    try:
        if spec in list_models():  # a model name: seeded random weights
            cfg = contract.load_config(config, [f"model.name={spec}", *options])
            if task in ("det", "multi") and not cfg.get("classes"):
                cfg["classes"] = coco80_categories()
            torch.manual_seed(seed)
            model = contract.build_model(cfg).eval()
            model.meta = contract.model_meta(cfg)
            source = f"random weights (seed {seed})"
        elif Path(spec).is_file() or spec in list_weights():  # loaded as the tools load them
            source = str(Path(spec).resolve()) if Path(spec).is_file() else spec
            # Task.build_predictor's two steps, kept apart for the config the stream's tracking takes
            model, cfg = contract.load_model(spec, contract.load_config(config, options) if config else None, options)
        else:
            raise ConfigError(f"--{task} {spec!r}: neither a checkpoint file nor a model name (hrseg.list_models()) "
                              "nor published weights (hrseg weights list)")
        predictor = contract.predictor(model, cfg, **predictor_options)
    except ConfigError as e:
        eager_only = task in ("det", "multi") and any(o in options for o in ("test.backend=optimized",
                                                                            "test.backend=compiled"))
        if eager_only and "runs eagerly" in str(e):
            raise ConfigError(f"{e}; serve the others on {backend} with the {TASK_NAMES[task]} model eager: "
                              f"--{task}-options test.backend=torch") from None
        raise
    return ServedModel(task, predictor.model.meta.get("model", spec), source, predictor, cfg)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB (H, W, 3) image or an (H, W) label map (8 or 16 bits)."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])  # fast; still lossless
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def png_base64(image: np.ndarray) -> str:
    return base64.b64encode(encode_png(image)).decode("ascii")


def answer(served: ServedModel, predictor: Predictor, image: np.ndarray, result: Any) -> dict[str, Any]:
    """The JSON of one request: the predictor's document (a label map, where there is one, as PNG)."""
    out: dict[str, Any] = {"task": served.task, "model": served.name, **predictor.document(image, result)}
    labels = predictor.label_map(result)
    if labels is not None:
        out["label_map_png"] = png_base64(labels)
    return out
