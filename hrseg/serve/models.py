"""The service's one door into the task modules: loading a model per task and predicting with it.

Every call into ``hrseg.tasks.*`` the service makes is in this file, so moving the service to
another task interface changes this module only. A model is loaded once, from an hrseg or
official checkpoint (its config and classes as the tools find them) or, given a model name, with
random weights (seeded: for trying the service and for load tests). It runs on the runner the
tools build (:meth:`hrseg.tasks.base.Task.runner`: ``test.backend``, one of
:data:`hrseg.backends.BACKENDS` or ``auto``, and the pose config's ``test.dtype``). Predictions go
through the tools' own functions (``estimate_poses``, ``predict_labels``, ``detect``) with a
stand-in for that runner that micro-batches the forward passes (:mod:`hrseg.serve.batching`), and
the overlays through the visualization helpers the tools use.

The default backend is the tools' default, ``auto``: the fastest installed (OpenVINO, else ONNX
Runtime, else the optimized PyTorch model; a detector runs eagerly), named in the log. With
OpenVINO or ONNX Runtime that exports the model at start-up, once per weights: about 15 s for
pose_hrnet_w32 on a two-core CPU, then from the export cache (under 2 s). A server starts once
and then answers many requests, so the faster forward passes are worth those seconds; ``--backend
optimized`` starts without exporting.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import cv2
import numpy as np
import torch
from torch import nn

import hrseg
from hrseg.backends import AUTO, BACKENDS
from hrseg.codecs.msra import HeatmapCodec
from hrseg.data.det.coco_instances import coco80_categories
from hrseg.errors import ConfigError
from hrseg.inference.top_down import estimate_poses
from hrseg.tasks import detection, pose, segmentation
from hrseg.visualization.boxes import draw_boxes
from hrseg.visualization.pose import draw_poses
from hrseg.visualization.segmentation import overlay, palette_for

TASKS = ("pose", "seg", "det")
TASK_NAMES = {"pose": "pose estimation", "seg": "segmentation", "det": "detection"}
CONTRACTS = {"pose": pose.TASK, "seg": segmentation.TASK, "det": detection.TASK}

# --dtype: the pose config's test.dtype (segmentation and detection configs have none: float32)
DTYPES = ("float32", "bfloat16")


@dataclass
class Prediction:
    """A request's answer: the JSON, and how to draw its overlay (only called for ``render``)."""

    result: dict[str, Any]
    draw: Callable[[], np.ndarray]


@dataclass
class ServedModel:
    task: str
    name: str
    source: str  # the checkpoint file, or "random weights (seed N)"
    cfg: dict[str, Any]
    runner: nn.Module  # what the forward passes run on: the tools' runner (Task.runner)
    info: dict[str, Any] = field(default_factory=dict)  # classes, palette, ...

    def meta(self) -> dict[str, Any]:
        """What ``GET /v1/models`` tells about this model."""
        out = {"task": self.task, "name": self.name, "weights": self.source,
               "parameters": self.info.get("parameters"), "backend": self.info.get("backend"),
               "dtype": self.info.get("dtype")}
        if self.task == "pose":
            out.update(input_size=list(self.cfg["data"]["input_size"]), keypoint_names=list(self.info["keypoints"].names),
                       flip_test=bool(self.cfg["test"]["flip"]))
        elif self.task == "seg":
            t = self.cfg["test"]
            out.update(classes=list(self.info["classes"]), mode=t["mode"], base_size=t["base_size"])
        else:
            out.update(classes=[c["name"] for c in self.info["classes"]])
        return out


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
               seed: int = 0, dtype: str = "float32") -> ServedModel:
    """The ``task`` model of ``spec``: a checkpoint file, or a model name (random weights).

    ``cfg_options`` override the task config (``data.input_size=[128,96]``, ``test.flip=False``);
    ``backend`` is one of :data:`hrseg.backends.BACKENDS` or ``auto`` (None: auto), ``dtype``
    float32 or bfloat16 (pose); the runner is the one the tools build for them
    (:meth:`hrseg.tasks.base.Task.runner`; a detector: eager, or exported with onnxruntime /
    openvino).
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    contract = CONTRACTS[task]
    options = _options(task, backend, dtype, cfg_options)
    if spec in hrseg.list_models():  # a model name: seeded random weights
        cfg = contract.load_config(None, [f"model.name={spec}", *options])
        if task == "det":
            cfg["classes"] = coco80_categories()
        torch.manual_seed(seed)
        model, source = contract.build_model(cfg).eval(), f"random weights (seed {seed})"
    elif not Path(spec).is_file() and spec not in hrseg.list_weights():
        raise ConfigError(f"--{task} {spec!r}: neither a checkpoint file nor a model name (hrseg.list_models()) "
                          "nor published weights (hrseg weights list)")
    else:  # a checkpoint file or published weights by name, loaded as the tools load them
        model, cfg = contract.load_model(spec, None, options)
        source = str(Path(spec).resolve()) if Path(spec).is_file() else spec
    info: dict[str, Any] = {}
    if task == "pose":
        info.update(keypoints=pose.keypoint_set(cfg), codec=HeatmapCodec.from_config(cfg))
    elif task == "seg":
        info["classes"] = segmentation.class_names(cfg)
        info["palette"] = palette_for(segmentation.default_palette(cfg), model.num_classes)
    else:
        info["classes"] = model.classes
    info["parameters"] = sum(p.numel() for p in model.parameters())  # the model's, not the runner's
    try:
        runner = contract.runner(model, cfg)
    except ConfigError as e:
        if task == "det" and cfg["test"]["backend"] in ("optimized", "compiled"):
            raise ConfigError(f"{e}; serve the others on {cfg['test']['backend']} with the detector eager: "
                              "--det-options test.backend=torch") from None
        raise
    # a detector on torch is the model itself (torchvision's own module)
    info.update(backend=getattr(runner, "backend", "torch"), dtype=getattr(runner, "ran_as", getattr(runner, "dtype", "float32")))
    return ServedModel(task, cfg["model"]["name"], source, cfg, runner, info)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB (H, W, 3) image or an (H, W) label map (8 or 16 bits)."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 1])  # fast; still lossless
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def png_base64(image: np.ndarray) -> str:
    return base64.b64encode(encode_png(image)).decode("ascii")


def predict(served: ServedModel, image: np.ndarray, forward: Any, params: Mapping[str, float]) -> Prediction:
    """The task's prediction for one uint8 RGB image, as the tools compute it, with ``forward``
    (the micro-batching stand-in of ``served.runner``) running the network.

    ``params``: ``kpt_thr`` (pose overlay), ``score_thr`` (detection)."""
    h, w = image.shape[:2]
    if served.task == "pose":
        keypoints = served.info["keypoints"]
        people = estimate_poses(forward, image, [[0.0, 0.0, float(w), float(h), 1.0]], served.info["codec"],
                                keypoints, served.cfg["test"])
        return Prediction({"keypoint_names": list(keypoints.names), "people": people},
                          lambda: draw_poses(image, people, params.get("kpt_thr", 0.3), keypoints=keypoints))
    if served.task == "seg":
        labels = segmentation.predict_labels(forward, image, served.cfg["test"])
        names = served.info["classes"]
        counts = np.bincount(labels.ravel(), minlength=len(names))
        areas = [{"id": int(i), "name": names[i] if i < len(names) else str(i), "pixels": int(counts[i]),
                  "fraction": round(float(counts[i]) / labels.size, 6)} for i in np.flatnonzero(counts)]
        return Prediction({"classes": areas, "label_map_png": png_base64(labels)},
                          lambda: overlay(image, labels, served.info["palette"]))
    score_thr = params.get("score_thr", 0.3)
    found = detection.detect(forward, image, served.info["classes"], score_thr)
    return Prediction({"box_format": "xyxy", "score_thr": score_thr, "detections": found},
                      lambda: draw_boxes(image, found))
