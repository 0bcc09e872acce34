"""What ``hrseg export`` exports: a model from a registry name or a config file, with weights
(an hrseg checkpoint, or the official file the task loaders read, through the task's one loader).
This sits in the tasks layer because it loads models as the tasks do; the export itself
(:mod:`hrseg.export`) knows nothing of tasks."""
from __future__ import annotations

import contextlib
import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from torch import nn

from hrseg.config import load_config
from hrseg.configs_index import find_config
from hrseg.errors import ConfigError, HrsegError
from hrseg.export.meta import DETECTION_TRACE_SIZE, task_of
from hrseg.export.quantize import CALIBRATION_SAMPLES, evenly_spaced, predictor_inputs
from hrseg.export.runners import ExportedFile
from hrseg.inference.predictor import Predictor
from hrseg.models.registry import list_models
from hrseg.models.multitask import is_multitask_model
from hrseg.tasks import detection, multi, pose, segmentation
from hrseg.tasks.base import Task
from hrseg.tasks.loading import UnnamedModelError
from hrseg.tasks.common import check_predictor
from hrseg.tasks.inputs import find_images
from hrseg.utils.image_io import read_image

log = logging.getLogger("hrseg")


# export.meta.task_of's names -> the tasks
_TASKS = {"pose": pose.TASK, "segmentation": segmentation.TASK, "detection": detection.TASK}


def _task(task: str, name: str) -> Task:
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


@dataclass
class ExportSource:
    """A model to export: eval mode with its weights, its registry name, the size it runs at
    (H, W), its task and the config it runs with."""

    model: nn.Module
    name: str
    input_size: tuple[int, int]
    task: Task
    cfg: dict[str, Any]

    def run_config(self, input_size: Sequence[int], dynamic_size: bool = True) -> dict[str, Any]:
        """The config the file exported at ``input_size`` (H, W) runs with, which the export records
        (``hrseg infer --weights FILE`` runs with it): pose crops at that size (heatmaps at stride
        4); a fixed-size segmentation graph in windows of that size."""
        cfg = copy.deepcopy(self.cfg)
        h, w = (int(v) for v in input_size)
        if self.task.name == "pose":
            cfg["data"].update(input_size=[h, w], heatmap_size=[h // 4, w // 4])
        elif self.task.name == "seg" and not dynamic_size:
            cfg["test"].update(mode="slide", crop_size=[h, w], pad_to_crop=True)
        return cfg

    def check_predictor(self, model: nn.Module, input_size: Sequence[int],
                        dynamic_size: bool) -> Predictor:
        """The task's one predictor of eager ``model`` as the export's self-check runs it
        (:func:`hrseg.export.check.check_through`): the config's test settings (flip, decoder,
        scales, windows) on PyTorch; pose's people are :func:`~hrseg.export.check.check_boxes`
        (two; a fixed-batch graph runs them one at a time), cropped at the export's size; a
        fixed-size segmentation graph's windows of its size (a smaller image padded to one)."""
        return check_predictor(self.task, model, self.run_config(input_size, dynamic_size))

    def calibration_inputs(self, model: nn.Module, input_size: Sequence[int], dynamic_size: bool,
                           photos: str | os.PathLike | None = None, count: int = CALIBRATION_SAMPLES
                           ) -> Iterator[np.ndarray]:
        """An int8 export's calibration inputs (:func:`~hrseg.export.quantize.quantize_onnx`), ``count``
        at most, made as the exported file's inputs will be. From ``photos`` (a folder or an image)
        through :meth:`check_predictor` (its test settings; pose's people are each photograph's two
        check boxes); without, from the config's val split, spread over it: pose's evaluation crops
        of its people, segmentation's and a detector's images through the predictor (windows, scales,
        flip; a detector's whole image, which its graph resizes)."""
        predictor = self.check_predictor(model, input_size, dynamic_size)
        if photos is not None:
            files = find_images([photos])
            files = [files[i] for i in evenly_spaced(len(files), count)]
            return predictor_inputs(predictor, (read_image(f) for f in files), len(files), count)
        try:
            dataset = self.task.build_dataset(self.run_config(input_size, dynamic_size), "val")
        except HrsegError as e:
            raise ConfigError(f"int8 calibration: the config's val split does not load ({e}); give --calibration "
                              "a folder of photographs like those the model will see") from None
        if self.task.name == "pose":  # the crops the evaluation feeds the network
            return (dataset[i]["image"][None].numpy() for i in evenly_spaced(len(dataset), count))
        indices = evenly_spaced(len(dataset), count)
        images = (dataset.load(i)[0] if self.task.name == "seg" else dataset.read(dataset.image_ids[i])
                  for i in indices)
        return predictor_inputs(predictor, images, len(indices), count)


def export_source(model_or_config: str | os.PathLike, weights: str | os.PathLike | None = None) -> ExportSource:
    """The model to export (:class:`ExportSource`).

    ``model_or_config`` is a name of ``hrseg.list_models()`` or a pose / segmentation /
    detection config: a file, or a shipped config's name (``hrseg configs``). A detector without
    recorded classes and 81 outputs has COCO's 80.
    Given by name, an hrseg checkpoint runs with the config it records (its input size, test
    settings), published weights with their record's; another project's file with the
    defaults. Without ``weights`` the model keeps its initialisation (logged: only for trying
    the export out)."""
    text = str(model_or_config)
    if Path(text).suffix != ".py" and text not in list_models():  # a shipped config's name, or a path without .py
        with contextlib.suppress(ConfigError):  # neither: task_of below names what exports
            text = str(find_config(text))
    by_name = Path(text).suffix != ".py"
    if not by_name:
        name = (load_config(text).get("model") or {}).get("name")
        if not name:
            raise ConfigError(f"{text}: the config sets no model.name")
        task = _task(task_of(name), name)
        cfg = task.load_config(text)
    else:
        name, task = text, _task(task_of(text), text)
        cfg = task.load_config(None, {"model.name": name})
    if weights:  # an hrseg checkpoint, an official or OpenMMLab file, or a published name
        try:
            model, cfg = task.load_model(weights, None if by_name else cfg)
        except UnnamedModelError:  # (by name only) another project's file: the model named, the defaults' config
            model, cfg = task.load_model(weights, cfg)
        if isinstance(model, ExportedFile):
            raise ConfigError(f"{weights}: an exported file; export from the checkpoint it was exported from")
        if cfg["model"]["name"] != name:
            raise ConfigError(f"{weights}: these weights are for {cfg['model']['name']}, not {name}")
    else:
        log.warning("no --weights: exporting %s with its initial (untrained) weights", name)
        model = task.build_model(cfg)
    return ExportSource(model.eval(), cfg["model"]["name"], _default_size(task.name, cfg), task, cfg)
