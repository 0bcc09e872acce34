"""What ``hrseg export`` exports: a model from a registry name or a config file, with weights
(an hrseg checkpoint, or the official file the task loaders read, through the task's one loader).
This sits in the tasks layer because it loads models as the tasks do; the export itself
(:mod:`hrseg.export`) knows nothing of tasks."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from hrseg.config import load_config
from hrseg.errors import ConfigError
from hrseg.export.meta import DETECTION_TRACE_SIZE, task_of
from hrseg.models.multitask import is_multitask_model
from hrseg.tasks import detection, multi, pose, segmentation

log = logging.getLogger("hrseg")


# export.meta.task_of's names -> the tasks
_TASKS = {"pose": pose.TASK, "segmentation": segmentation.TASK, "detection": detection.TASK}


def _task(task: str, name: str) -> Any:
    """The pose, segmentation, detection or multi-task :class:`~hrseg.tasks.base.Task` of model
    ``name`` (export's ``task``: a multi-task model's graph is a detector's)."""
    return multi.TASK if is_multitask_model(name) else _TASKS[task]


def _default_size(task: str, cfg: Mapping[str, Any]) -> tuple[int, int]:
    """The size the task runs at: the pose crop, the segmentation test crop, a photograph's for a
    detector (whose graph resizes any image itself)."""
    if task in ("det", "multi"):
        return DETECTION_TRACE_SIZE
    size = cfg["data"]["input_size"] if task == "pose" else cfg["test"]["crop_size"]
    return int(size[0]), int(size[1])


def model_for_export(model_or_config: str | os.PathLike, weights: str | os.PathLike | None = None
                     ) -> tuple[nn.Module, str, tuple[int, int]]:
    """``(model in eval mode with its weights, registry name, default input size (H, W))``.

    ``model_or_config`` is a name of ``hrseg.list_models()`` or a pose / segmentation /
    detection config file (a detector without recorded classes and 81 outputs has COCO's 80). Without ``weights`` the model keeps its initialisation (logged: only for trying the
    export out)."""
    text = str(model_or_config)
    if Path(text).suffix == ".py":
        name = (load_config(text).get("model") or {}).get("name")
        if not name:
            raise ConfigError(f"{text}: the config sets no model.name")
        task = _task(task_of(name), name)
        cfg = task.load_config(text)
    else:
        name, task = text, _task(task_of(text), text)
        cfg = task.load_config(None, {"model.name": name})
    if weights:  # an hrseg checkpoint, an official or OpenMMLab file, or a published name
        model, cfg = task.load_model(weights, cfg)
        if cfg["model"]["name"] != name:
            raise ConfigError(f"{weights}: these weights are for {cfg['model']['name']}, not {name}")
    else:
        log.warning("no --weights: exporting %s with its initial (untrained) weights", name)
        model = task.build_model(cfg)
    return model.eval(), cfg["model"]["name"], _default_size(task.name, cfg)
