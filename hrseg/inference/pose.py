"""The pose predictor: person boxes (:class:`~hrseg.inference.person_boxes.PersonBoxes`), then
top-down keypoints (:func:`~hrseg.inference.top_down.estimate_poses_batched`) on the runner."""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
from torch import nn

from hrseg.codecs.msra import HeatmapCodec
from hrseg.inference.person_boxes import PersonBoxes
from hrseg.inference.predictor import Predictor
from hrseg.inference.top_down import estimate_poses_batched
from hrseg.meta.keypoints import KeypointSet
from hrseg.utils.profile import StageTimer
from hrseg.visualization.pose import draw_poses

log = logging.getLogger("hrseg")


class PosePredictor(Predictor):
    """Top-down pose: ``predictor(image, key)`` is the image's people, ``{'bbox': [x, y, w, h],
    'box_score', 'score', 'keypoints': {name: [x, y, score]}}``, after the official rescoring and
    OKS-NMS; :meth:`stream` batches the crops of consecutive images."""

    task = "pose"
    options = {"kpt_thr": (0.0, 1.0)}

    def __init__(self, runner: nn.Module, model: nn.Module, codec: HeatmapCodec, keypoints: KeypointSet,
                 test_cfg: Mapping[str, Any], boxes: PersonBoxes | None = None, kpt_thr: float = 0.3,
                 timer: StageTimer | None = None) -> None:
        super().__init__(runner, model, timer)
        self.codec, self.keypoints, self.test_cfg = codec, keypoints, test_cfg
        self.boxes, self.kpt_thr = boxes or PersonBoxes(), float(kpt_thr)

    def person_boxes(self, image: np.ndarray, key: Any) -> list[list[float]]:
        if self.boxes.detects:
            with self.timer("detect"):
                return self.boxes(image, key)
        return self.boxes(image, key)

    def stream(self, items: Iterable[tuple[Any, np.ndarray]], batch_size: int | None = None
               ) -> Iterator[tuple[Any, np.ndarray, list[dict[str, Any]]]]:
        """``(key, image, people)`` for each ``(key, image)``, in order; the crops of consecutive
        images go through the network ``batch_size`` at a time (None: one forward an image); a
        tracking predictor goes frame by frame (a frame's people give the next frame's boxes)."""
        if self.tracker is not None:
            for key, image in items:
                yield key, image, self(image, key)
            return
        yield from self._estimated(items, batch_size)

    def _estimated(self, items: Iterable[tuple[Any, np.ndarray]], batch_size: int | None = None
                   ) -> Iterator[tuple[Any, np.ndarray, list[dict[str, Any]]]]:
        """:meth:`stream` without tracking: the crops of consecutive images batched."""
        boxed = ((key, image, self.person_boxes(image, key)) for key, image in items)
        for (key, boxes), image, people in estimate_poses_batched(
                self.runner, (((key, boxes), image, boxes) for key, image, boxes in boxed), self.codec,
                self.keypoints, self.test_cfg, batch_size, self.timer):
            small = [b for b in boxes if b[2] <= 1 or b[3] <= 1]
            if small and not people:
                h, w = image.shape[:2]
                log.warning(f"{key or 'image'}: no person estimated: {len(small)} box(es) under 2 pixels a side "
                            f"(the image is {w}x{h})")
            yield key, image, people

    def tracking(self, tracker: Any, smoother: Any = None) -> "PosePredictor":
        """:meth:`Predictor.tracking`, with person boxes of its own (each video, each stream of the
        service, keeps its own boxes between detector frames)."""
        out = super().tracking(tracker, smoother)
        out.boxes = copy.copy(self.boxes)
        return out

    def check_inputs(self, photos: Sequence[Path], videos: Sequence[Path]) -> None:
        """The boxes file against the run's inputs (:meth:`PersonBoxes.check_inputs`)."""
        self.boxes.check_inputs(photos, videos)

    def reset(self, frame_rate: float | None = None) -> None:
        super().reset(frame_rate)
        self.boxes.reset()

    def follow(self, people: list[dict[str, Any]], image: np.ndarray | None = None) -> list[dict[str, Any]]:
        """:meth:`Predictor.follow`, and the next frame's person boxes from these keypoints when
        the detector runs every N frames (the boxes follow the people, as mmpose's tracker does).
        The boxes keep the keypoints' own shape (the crop fits them to the model's input as it fits
        a detector's box): forced to the input's aspect ratio, a walker's box came out twice as wide
        as the person, and IDF1 with the detector every 5 frames fell from 0.50 to 0.26 (docs/video.md)."""
        people = super().follow(people, image)
        self.boxes.follow(people, None)
        return people

    def predict(self, image: np.ndarray, key: Any = None) -> list[dict[str, Any]]:
        return next(self._estimated([(key, image)]))[2]

    def result_fields(self, people: list[dict[str, Any]]) -> dict[str, Any]:
        return {"keypoint_names": list(self.keypoints.names), "skeleton": [list(p) for p in self.keypoints.skeleton],
                "detector": self.boxes.name, "people": people}

    def draw(self, image: np.ndarray, people: list[dict[str, Any]]) -> np.ndarray:
        return draw_poses(image, people, self.kpt_thr, keypoints=self.keypoints)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "input_size": list(self.codec.input_size),
                "keypoint_names": list(self.keypoints.names), "flip_test": bool(self.test_cfg["flip"]),
                "codec": self.codec.kind, "decoder": self.codec.decoder, "detector": self.boxes.name}
