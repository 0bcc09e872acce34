"""The task contract: what every task (pose, segmentation, detection) implements, and the
generic train / test / infer flows written once on top of it.

A task is a :class:`Task` subclass with a config schema (``defaults``) and a few hooks:
``build_dataset(cfg, split)``, ``build_model(cfg)``, ``model_meta(cfg)`` (the facts that travel
with the checkpoint: classes or keypoints, input size, normalisation), ``evaluate``, ``predict``
and ``write_prediction``. The flows (:meth:`Task.train`, :meth:`Task.test`, :meth:`Task.infer`) live
here; :meth:`Task.load_model` (one checkpoint read, one policy for every kind of file) in
:mod:`hrseg.tasks.loading`.
Adding a task = one module in ``hrseg/tasks`` defining a subclass, registered in
:data:`hrseg.tasks.TASKS`, plus its data adapter (docs/tasks.md).
"""
from __future__ import annotations

import copy
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from hrseg.engine import Trainer, get_rank
from hrseg.engine.schedules import check_schedule
from hrseg.engine.speed import check_speed
from hrseg.engine.trainer import TrainStep
from hrseg.errors import ConfigError, missing_tracking
from hrseg.inference.predictor import Predictor
from hrseg.inference.video import VIDEO_SUFFIXES, process_video, written_line
from hrseg.models.detection import check_model_options
from hrseg.tasks import common
from hrseg.tasks.inputs import check_inputs, find_images
from hrseg.tasks.loading import WeightsLoading
from hrseg.utils.image_io import read_image, write_image
from hrseg.utils.io import make_folder, write_json
from hrseg.utils.profile import SETUP, StageTimer, summary_line
from hrseg.utils.provenance import run_provenance

log = logging.getLogger("hrseg")

# What a task's evaluation returns: the scalar metrics (for logs and best.pth) and the details
# a report shows (per-class tables, result files).
Evaluation = tuple[dict[str, float], dict[str, Any]]


class Task(WeightsLoading):
    """Base class of the tasks; see the module docstring. ``name``, ``defaults``, ``open_keys`` and
    ``how_to_get_weights`` are declared with the weights side (:class:`~hrseg.tasks.loading.WeightsLoading`)."""

    collate: ClassVar[Callable | None] = None
    result_noun: ClassVar[tuple[str, str]] = ("result", "results")  # one, several: ("person", "people")

    # -- config --------------------------------------------------------------------------------
    def load_config(self, path: str | os.PathLike | None = None,
                    cfg_options: Mapping[str, Any] | Sequence[str] | None = None) -> dict[str, Any]:
        """A config file (None: the defaults) validated against :attr:`defaults`; its model must
        be one of this task's."""
        cfg = common.load_task_config(path, cfg_options, self.defaults, self.open_keys, self.name)
        self.check_config(cfg, path)
        return cfg

    def check_config(self, cfg: Mapping[str, Any], source: str | os.PathLike | None = None) -> None:
        """What a config must hold for this task beyond its schema (:meth:`load_config` and
        ``hrseg train`` check it, ``--dry-run`` included): a model of this task and well-formed
        speed options (:func:`hrseg.engine.speed.check_speed`), optimizer and schedule."""
        common.check_model_task(self.name, cfg, source)
        check_model_options(cfg["model"]["name"], cfg["model"])  # a detector's options, without building it
        check_speed(cfg["train"])
        check_schedule(cfg["optimizer"], cfg["schedule"], cfg["train"]["max_epochs"])

    # -- hooks a task implements ----------------------------------------------------------------
    def build_dataset(self, cfg: Mapping[str, Any], split: str, **options: Any) -> Dataset:
        raise NotImplementedError

    def build_model(self, cfg: Mapping[str, Any]) -> nn.Module:
        return common.build_from_config(cfg["model"])

    def model_from_section(self, model_cfg: Mapping[str, Any]) -> nn.Module:
        """:meth:`build_model` for a config's ``model`` section alone."""
        return self.build_model({"model": model_cfg})

    def training_val_set(self, cfg: Mapping[str, Any], val_set: Dataset) -> Dataset:
        """The dataset evaluated during training (it decides ``best.pth``); default: the val split."""
        return val_set

    def prepare_training(self, cfg: dict[str, Any], train_set: Dataset, val_set: Dataset) -> None:
        """Complete ``cfg`` from the training data (e.g. the classes of the annotation file)."""

    def training_step(self, cfg: Mapping[str, Any], model: nn.Module,
                      train_set: Dataset) -> tuple[TrainStep, Callable | None]:
        """The Trainer's ``train_step`` and its epoch hook (None: no hook)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, dataset: Dataset, cfg: Mapping[str, Any],
                 out_dir: Path | None = None, stage: str = "val", verbose: bool = True) -> Evaluation:
        raise NotImplementedError

    def report(self, evaluation: Evaluation, cfg: Mapping[str, Any], dataset: Dataset, title: str) -> None:
        """Print an evaluation for people (tables)."""

    def runner(self, model: nn.Module, cfg: Mapping[str, Any]) -> nn.Module:
        """What the tools (and the service) predict with: ``model`` on ``test.backend`` (and
        ``test.dtype`` where the task has it), built by :func:`hrseg.backends.load_runner`."""
        raise NotImplementedError

    def predictor(self, model: nn.Module, cfg: Mapping[str, Any], **options: Any) -> Predictor:
        """The task's one predictor (:mod:`hrseg.inference.predictor`) of ``model`` on
        :meth:`runner`, with the task's options (pose: boxes file or person detector)."""
        raise NotImplementedError

    def build_predictor(self, weights: str | os.PathLike, cfg: Mapping[str, Any] | None = None,
                        cfg_options: Mapping[str, Any] | Sequence[str] | None = None, track: bool = False,
                        smooth: bool = False, **options: Any) -> Predictor:
        """The predictor of ``weights`` (read first, with :meth:`load_model`: a bad file fails
        before anything else is looked for), then what it needs (pose: its person detector):
        what ``hrseg infer``, the service and ``--profile`` predict through. ``track``: it
        follows objects across video frames (``smooth``: and steadies their keypoints)."""
        if smooth and not track:
            raise ConfigError("--smooth filters each tracked person's keypoints: give --track too")
        if track and importlib.util.find_spec("trackers") is None:  # said before the weights load
            raise missing_tracking()
        model, cfg = self.load_model(weights, cfg, cfg_options)
        predictor = self.predictor(model, cfg, **options)
        return self.tracking(predictor, cfg, smooth) if track else predictor

    def tracking(self, predictor: Predictor, cfg: Mapping[str, Any], smooth: bool = False) -> Predictor:
        """``predictor`` following objects across frames with the config's ``test.track``
        settings (:class:`hrseg.inference.tracking.TrackerConfig`); tasks with objects override."""
        raise ConfigError(f"--track: {self.name} predictions have no objects to follow across frames")

    def write_prediction(self, out_dir: Path, path: Path, image: np.ndarray, result: Any,
                         predictor: Predictor) -> dict[str, str]:
        """``<stem>_<task>.png`` (the predictor's overlay) and ``<stem>_<task>.json`` (its document
        and the image path) under ``out_dir``; :meth:`infer` prints the line naming what it returns."""
        png = write_image(out_dir / f"{path.stem}_{self.name}.png", predictor.draw(image, result))
        return {"overlay": str(png), "json": str(self.write_document(out_dir, path, image, result, predictor))}

    def write_document(self, out_dir: Path, path: Path, image: np.ndarray, result: Any, predictor: Predictor) -> Path:
        """``<stem>_<task>.json``: the predictor's document of one image and the image's path."""
        return write_json(out_dir / f"{path.stem}_{self.name}.json", {"image": str(path),
                                                                      **predictor.document(image, result)})

    # -- the flows --------------------------------------------------------------------------------
    def train(self, cfg: Mapping[str, Any]) -> dict[str, float]:
        """Train the config's model, evaluating on its val split; returns the final metrics."""
        cfg = copy.deepcopy(dict(cfg))
        self.check_config(cfg)  # a bad config stops the run now, before its data are built
        train_set, val_set, loader, processes = common.start_training(cfg, self.build_dataset, self.collate)
        val_set = self.training_val_set(cfg, val_set)
        self.prepare_training(cfg, train_set, val_set)
        model = self.build_model(cfg)
        step, hook = self.training_step(cfg, model, train_set)
        work_dir = Path(cfg["work_dir"])
        last: dict[str, Evaluation] = {}

        def evaluate(net: nn.Module) -> dict[str, float]:
            last["val"] = self.evaluate(net, val_set, cfg, work_dir, "val", verbose=False)
            return last["val"][0]

        log.info(f"training {cfg['model']['name']} on {len(train_set)} samples, evaluating on {len(val_set)} "
                 f"({processes})")
        trainer = Trainer(model, loader, step, cfg["optimizer"], cfg["schedule"], work_dir, seed=cfg["seed"],
                          resume=cfg["resume"], config=cfg, model_meta=self.model_meta(cfg), evaluate=evaluate,
                          epoch_hook=hook, **cfg["train"])
        metrics = trainer.fit()
        if get_rank() == 0:
            if "val" in last:
                self.report(last["val"], cfg, val_set, f"{cfg['model']['name']}, val split")
            print(f"checkpoints, log.csv, curves.png and metrics.json are in {work_dir}")
        return metrics

    def test(self, cfg: Mapping[str, Any] | None, weights: str | os.PathLike | None = None,
             out_dir: str | os.PathLike | None = None, cfg_options: Mapping[str, Any] | Sequence[str] | None = None,
             **options: Any) -> dict[str, float]:
        """Evaluate ``weights`` (default: the config's run) on the val split; ``options`` are the
        task's test options (e.g. pose ``det_file``, detection ``ann_file``); ``cfg_options``: those
        ``cfg`` was loaded with (their ``model.*`` apply to a checkpoint's recorded model). Writes the results and
        ``metrics_test.json`` (with the weights, test settings, machine, command and date) to ``out_dir`` (default:
        the work_dir) and prints the tables."""
        weights = weights if cfg is None else self.resolve_weights(weights, cfg["work_dir"])
        model, cfg = self.load_model(weights, cfg, cfg_options)  # cfg None: the one the checkpoint records
        cfg = self.test_config(cfg, **options)
        dataset = self.build_dataset(cfg, "val", **self.dataset_options(**options))
        out = Path(out_dir or cfg["work_dir"])
        evaluation = self.evaluate(model, dataset, cfg, out, "test", verbose=True)
        self.report(evaluation, cfg, dataset, self.test_title(cfg, dataset, **options))
        if get_rank() == 0:
            metrics, details = evaluation
            run = {"weights": str(weights), "model": cfg["model"]["name"], "test": cfg["test"], **run_provenance()}
            write_json(out / "metrics_test.json", {**metrics, **details.get("json", {}), "run": run})
            print(f"metrics: {out / 'metrics_test.json'}"
                  + (f", results: {details['results']}" if details.get("results") else ""))
        return evaluation[0]

    def test_config(self, cfg: dict[str, Any], **options: Any) -> dict[str, Any]:
        """``cfg`` with the test options that change settings applied (e.g. pose ``flip``)."""
        return cfg

    def dataset_options(self, **options: Any) -> dict[str, Any]:
        """The test options :meth:`build_dataset` takes."""
        return {}

    def test_title(self, cfg: Mapping[str, Any], dataset: Dataset, **options: Any) -> str:
        return f"{cfg['model']['name']}, {len(dataset)} samples"

    def infer(self, inputs: Sequence[str | os.PathLike], cfg: Mapping[str, Any] | None,
              weights: str | os.PathLike, out_dir: str | os.PathLike,
              cfg_options: Mapping[str, Any] | Sequence[str] | None = None, profile: bool = False,
              batch_size: int | None = None, **options: Any) -> list[dict[str, str]]:
        """Predict on image files (and the images of folders) and video files through the task's
        predictor (:meth:`build_predictor`, ``options`` its options; with ``track`` a folder is one
        video's frames), writing the task's files per
        image (per video: the annotated video and one JSON line per frame) under ``out_dir``;
        ``cfg`` None: the config the checkpoint recorded, with ``cfg_options``. Every image is decoded, every
        video opened and the weights loaded before anything is written: a bad file stops the run with one
        error naming it and nothing written. Images are read one at a time (memory flat in their number);
        ``batch_size``: pose crops per forward across images. ``profile``: the time by stage
        (:mod:`hrseg.utils.profile`) to ``out_dir/profile.json`` and one log line."""
        timer = StageTimer()
        videos = [Path(p) for p in inputs if Path(p).suffix.lower() in VIDEO_SUFFIXES]
        others = [p for p in inputs if Path(p).suffix.lower() not in VIDEO_SUFFIXES]
        if options.get("track"):  # a folder is one video's frames, sorted by name
            photo = next((p for p in others if not Path(p).is_dir()), None)
            if photo is not None:
                raise ConfigError(f"--track follows objects across the frames of a video: {photo} is a photo; "
                                  "give video files or folders of one video's frames")
            videos, others = videos + [Path(p) for p in others], []
        paths = find_images(others) if others or not videos else []
        out = Path(out_dir)
        with timer("check"):  # a bad input stops the run before the model is loaded and any output
            check_inputs(paths, videos)
        with timer(SETUP):
            predictor = self.build_predictor(weights, cfg, cfg_options, timer=timer, **options)
        with timer("check"):
            predictor.check_inputs(paths, videos)  # pose: its boxes file against the inputs
            make_folder(out)
        written = []

        def decoded() -> Iterator[tuple[Path, np.ndarray]]:
            for path in paths:
                with timer("decode"):
                    image = read_image(path)
                yield path, image

        for path, image, result in predictor.stream(decoded(), batch_size):
            with timer("write"):
                files = self.write_prediction(out, path, image, result, predictor)
            print(written_line(path, files.values(), predictor.count(result), self.result_noun))
            written.append({"image": str(path), **files})
        if profile and paths:
            report = timer.report(len(paths))
            write_json(out / "profile.json", report)
            log.info("profile: %s -> %s", summary_line(report), out / "profile.json")
        for path in videos:  # frame by frame: memory flat in the video's length
            written.append(self.infer_video(predictor, path, out))
        return written

    def infer_video(self, predictor: Predictor, path: Path, out: Path) -> dict[str, str]:
        """One video through ``predictor``: the annotated video and one JSON line per frame."""
        def frame_result(frame: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
            result = predictor(frame, path)
            return predictor.document(frame, result), predictor.draw(frame, result)

        summary = process_video(path, out, frame_result, on_start=predictor.reset)  # its tracks at its frame rate
        return {"video": str(path), "overlay": summary["video"], "json": summary["jsonl"]}
