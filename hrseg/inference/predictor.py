"""The one predictor of each task: what every entry point predicts through.

A :class:`Predictor` holds what one task needs to go from a photograph to plain data: the
runner (the network on its backend), the detector where the task needs one, and the pre- and
post-processing. The tools (photos, folders, videos), the service, ``hrseg export``'s self-check
(:func:`hrseg.export.check.check_through`) and ``--profile`` all call it, so an answer cannot
depend on the door it came in by:

    predictor = hrseg.tasks.pose.TASK.build_predictor("pose.pth", det_weights="det.pth")
    people = predictor(image)                  # plain data (lists and dicts)
    doc = predictor.document(image, people)    # the JSON of one image (the service's answer too)
    overlay = predictor.draw(image, people)    # the overlay PNG's pixels

Predictors are built by the tasks layer (:meth:`hrseg.tasks.base.Task.build_predictor`: the
weights are read first, then the detector, then the runner); they live here, in the runtime
layer, so that the export self-check can use them too. An entry point only reads input and
writes output: it may swap the runner for a stand-in (:meth:`with_runner`: the service's
micro-batcher) or set the options a request may change (:meth:`configured`), nothing else.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Sequence

import numpy as np
from torch import nn

from hrseg.errors import ConfigError
from hrseg.inference.segmentation import predict_labels
from hrseg.meta.classes import IGNORE_INDEX
from hrseg.utils.profile import StageTimer
from hrseg.visualization.segmentation import overlay


class Predictor:
    """Base of the task predictors. ``predictor(image)`` is one uint8 RGB image's result;
    :meth:`stream` predicts many in order (a task may batch across images); :meth:`document`
    and :meth:`draw` turn a result into JSON-able data and an overlay."""

    task: ClassVar[str]
    # the options a caller may change per call (:meth:`configured`) and their valid range
    options: ClassVar[dict[str, tuple[float, float]]] = {}
    # detection: an exported graph's recorded score threshold, under which it returns nothing
    score_floor: float | None = None

    def __init__(self, runner: nn.Module, model: nn.Module, timer: StageTimer | None = None) -> None:
        self.runner = runner
        self.model = model  # the torch model behind the runner (its meta, parameter count)
        self.timer = timer or StageTimer()
        # video: identities across frames (hrseg.inference.tracking.Tracker) and steady keypoints
        # (hrseg.inference.smoothing.KeypointSmoother), set by :meth:`tracking`
        self.tracker: Any = None
        self.smoother: Any = None

    # -- prediction -------------------------------------------------------------------------------
    def predict(self, image: np.ndarray, key: Any = None) -> Any:
        """One image's result; ``key`` names the image where a task looks something up by it
        (pose: its boxes in a boxes file)."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray, key: Any = None) -> Any:
        """One image's result; in a tracking predictor, the next frame's, with ``track_id``s."""
        return self.follow(self.predict(image, key), image)

    def follow(self, result: Any, image: np.ndarray | None = None) -> Any:
        """A video frame's result with identities (``track_id``) and smoothed keypoints, when
        this predictor tracks; as it is otherwise. ``image``: the frame, for the tracker's
        appearance cue (people who leave and come back get their id again) and camera motion."""
        if self.tracker is not None:
            with self.timer("track"):
                result = self.tracker.update(result, image)
                if self.smoother is not None:
                    result = self.smoother(result)
        return result

    def tracking(self, tracker: Any, smoother: Any = None) -> "Predictor":
        """A copy that follows objects across the frames of a video (``tracker.update(results)``)
        and smooths their keypoints (``smoother(results)``)."""
        out = copy.copy(self)
        out.tracker, out.smoother = tracker, smoother
        return out

    def stream(self, items: Iterable[tuple[Any, np.ndarray]], batch_size: int | None = None
               ) -> Iterator[tuple[Any, np.ndarray, Any]]:
        """``(key, image, result)`` for each ``(key, image)``, in order (one forward an image;
        pose batches the person crops of consecutive images ``batch_size`` at a time); a tracking
        predictor follows its objects from item to item, as :meth:`__call__` does."""
        for key, image in items:
            with self.timer("predict"):
                result = self.predict(image, key)
            yield key, image, self.follow(result, image)

    def check_inputs(self, photos: Sequence[Path], videos: Sequence[Path]) -> None:
        """Before a run writes anything: whether the predictor can take these inputs (pose: its
        boxes file against them); nothing by default."""

    def reset(self, frame_rate: float | None = None) -> None:
        """Forget what one video taught (its tracks; pose: the person boxes between detector
        frames); called before each video, with its ``frame_rate`` when known (the tracker keeps
        lost tracks a second at any rate; the One-Euro filter's time step)."""
        for part in (self.tracker, self.smoother):
            if part is not None:
                part.reset(frame_rate)

    # -- output -----------------------------------------------------------------------------------
    def document(self, image: np.ndarray, result: Any) -> dict[str, Any]:
        """The JSON of one image's result (what ``hrseg infer`` writes and the service answers)."""
        h, w = image.shape[:2]
        return {"width": w, "height": h, **self.result_fields(result)}

    def result_fields(self, result: Any) -> dict[str, Any]:
        raise NotImplementedError

    def draw(self, image: np.ndarray, result: Any) -> np.ndarray:
        """The overlay of one image's result (uint8 RGB, the image's size)."""
        raise NotImplementedError

    def count(self, result: Any) -> int:
        """How many things a result holds (people, boxes; pixels' classes for segmentation)."""
        return len(result)

    def label_map(self, result: Any) -> np.ndarray | None:
        """The (H, W) class map in a result (segmentation, the multi-task model's scene), else None."""
        return None

    def describe(self) -> dict[str, Any]:
        """What this predictor runs and predicts (the service's ``GET /v1/models``)."""
        count = getattr(self.model, "parameter_count", None)  # an exported file's record says it
        out = {"task": self.task, "parameters": count or sum(p.numel() for p in self.model.parameters()),
               "backend": getattr(self.runner, "backend", "torch"),
               "dtype": getattr(self.runner, "ran_as", getattr(self.runner, "dtype", "float32"))}
        meta = getattr(self.runner, "meta", None)
        if meta:  # an exported graph: the file and what it was exported as
            out["exported"] = {"file": str(getattr(self.runner, "source", "")), **{
                k: meta[k] for k in ("input_size", "dynamic_batch", "dynamic_size", "score_thresh") if k in meta}}
        if getattr(self, "score_thr", None) is not None:  # detection: what it reports, and the graph's floor
            out.update(score_thr=self.score_thr, score_floor=self.score_floor)
        return out

    # -- what an entry point may change -----------------------------------------------------------
    def with_runner(self, runner: nn.Module) -> "Predictor":
        """A copy that runs the network on ``runner`` (e.g. the service's micro-batching stand-in
        of :attr:`runner`); everything else is shared."""
        out = copy.copy(self)
        out.runner = runner
        return out

    def configured(self, **values: float) -> "Predictor":
        """A copy with per-call options set (``score_thr``, ``kpt_thr``: :attr:`options`)."""
        out = copy.copy(self)
        for key, value in values.items():
            if key not in self.options:
                raise ConfigError(f"{self.task}: unknown option {key!r}; known: {', '.join(self.options) or 'none'}")
            lo, hi = self.options[key]
            if not lo <= float(value) <= hi:
                raise ConfigError(f"{key} must be between {lo} and {hi}, got {value}")
            setattr(out, key, float(value))
        out.fit_score_thr()
        return out

    def fit_score_thr(self) -> None:
        """Fit the runner to the detections this predictor reports (``score_thr``): one clear error
        when its exported graph leaves some out (``score_thr`` under the graph's
        :attr:`score_floor`); an eager R-CNN keeps only those (:func:`skip_unreported`)."""
        thr = getattr(self, "score_thr", None)
        if thr is None:
            return
        check_score_floor(thr, self.score_floor)
        skip_unreported(self.runner, thr)


def check_score_floor(score_thr: float, floor: float | None) -> None:
    """One clear error when an exported detector graph, which returns only detections scoring
    ``floor`` or more, is asked for those scoring ``score_thr``, less."""
    if floor is not None and score_thr < floor:
        raise ConfigError(f"score_thr {score_thr:g}: the exported graph returns only detections scoring at least "
                          f"{floor:g}; ask for at least that, or export the checkpoint again with a lower --score-thr "
                          "(or run the checkpoint with --backend torch)")


class RunnerStandIn:
    """Stands in for a predictor's runner (:meth:`Predictor.with_runner`) and passes each call
    on; a subclass adds what it does around the call (the service's micro-batching, the export
    check's recording). ``parameters()`` and any other attribute are the runner's: the
    prediction functions read the device from them, a detector's classes, a graph's meta."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def __call__(self, inputs: Any) -> Any:
        return self.runner(inputs)

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.runner.parameters()

    def __getattr__(self, name: str) -> Any:
        if name == "runner":  # not set yet (a copy being made): no endless lookup
            raise AttributeError(name)
        return getattr(self.runner, name)


def skip_unreported(model: nn.Module, score_thr: float) -> None:
    """Let an eager R-CNN's box head keep only the detections scoring at least ``score_thr`` (never
    fewer than its own ``score_thresh`` keeps: 0.05, what evaluation needs), so that its mask and
    keypoint heads, and the pasting of masks into the image, run for what a predictor reports, not
    for every low-scoring detection. The detections kept are the same ones: NMS and the cap per
    image drop a box only for a higher-scoring one. Predictors sharing a model (the service's
    per-request thresholds) keep the lowest. A model without R-CNN heads is left as it is;
    exported graphs have their own floor (:attr:`Predictor.score_floor`)."""
    heads = getattr(model, "roi_heads", None)
    if heads is None or not hasattr(heads, "score_thresh"):
        return
    if getattr(heads, "own_score_thresh", None) is None:
        heads.own_score_thresh = float(heads.score_thresh)
    heads.reported_score_thr = min(float(score_thr), getattr(heads, "reported_score_thr", 1.0))
    # a hair under: the heads keep the scores above it, a predictor reports those at or above
    # score_thr, whatever precision the scores come in
    heads.score_thresh = max(heads.own_score_thresh, 0.99 * heads.reported_score_thr)


@contextmanager
def every_detection(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` at its own box threshold (0.05: what evaluation needs) inside the block, whatever
    predictors sharing it raised it to (:func:`skip_unreported`)."""
    heads = getattr(model, "roi_heads", None)
    own = getattr(heads, "own_score_thresh", None)
    if own is None:
        yield model
        return
    raised, heads.score_thresh = heads.score_thresh, own
    try:
        yield model
    finally:
        heads.score_thresh = raised


class SegPredictor(Predictor):
    """Semantic segmentation: a label map (H, W) of class indices at the image's size, with the
    test protocol of ``test_cfg`` (whole image or sliding windows, scales, flip)."""

    task = "seg"

    def __init__(self, runner: nn.Module, model: nn.Module, test_cfg: Mapping[str, Any], classes: list[str],
                 colours: np.ndarray, alpha: float = 0.5, timer: StageTimer | None = None) -> None:
        super().__init__(runner, model, timer)
        self.test_cfg, self.classes, self.colours, self.alpha = test_cfg, list(classes), colours, alpha

    def predict(self, image: np.ndarray, key: Any = None) -> np.ndarray:
        return predict_labels(self.runner, image, self.test_cfg)

    def result_fields(self, labels: np.ndarray) -> dict[str, Any]:
        """The classes present: id, name, pixels and share of the image (ignored pixels left out)."""
        counts = np.bincount(labels[labels != IGNORE_INDEX].ravel(), minlength=len(self.classes))
        return {"classes": [{"id": int(i), "name": self.classes[i] if i < len(self.classes) else str(i),
                             "pixels": int(counts[i]), "fraction": round(float(counts[i]) / labels.size, 6)}
                            for i in np.flatnonzero(counts)]}

    def draw(self, image: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return overlay(image, labels, self.colours, self.alpha)

    def count(self, labels: np.ndarray) -> int:
        return int(len(np.unique(labels[labels != IGNORE_INDEX])))

    def label_map(self, labels: np.ndarray) -> np.ndarray:
        return labels

    def describe(self) -> dict[str, Any]:
        t = self.test_cfg
        return {**super().describe(), "classes": self.classes, "mode": t["mode"], "base_size": t["base_size"]}
