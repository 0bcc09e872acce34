"""The multi-task model against the separate pipeline, end to end (docs/multitask.md).

Both do the whole photograph-to-JSON job a user runs: decode the photo, predict, and serialise
what ``hrseg infer`` writes (the JSON document: boxes, masks as COCO RLE, people's keypoints,
the scene's classes; and the label map as PNG). The separate pipeline is hrseg's own models
chained as a user would chain them, each through its task's predictor: the Mask R-CNN once (its
boxes and masks), its person detections as the top-down pose model's boxes (the detector is not
run a second time), and the segmentation model. The multi-task model does all of it in one
forward pass of one backbone.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import cv2
import numpy as np
import torch

from hrseg.inference.detection import person_labels
from hrseg.inference.predictor import Predictor
from hrseg.utils.image_io import read_image
from hrseg.utils.provenance import machine, machine_name

__all__ = ["SeparatePipeline", "format_table", "photo_to_json", "time_pipelines"]


class SeparatePipeline:
    """Mask R-CNN, then top-down pose on its people, then segmentation: three predictors, one
    result ``{'detections', 'people', 'labels'}`` per image. ``pose`` is built by the caller
    with :meth:`person_boxes` as its person detector (``build_pose(person_detector)``)."""

    def __init__(self, det: Predictor, build_pose: Callable[[Callable], Predictor], seg: Predictor,
                 person_score_thr: float = 0.5) -> None:
        self.det, self.seg, self.person_score_thr = det, seg, float(person_score_thr)
        self._people: list[list[float]] = []
        self._person_labels = set(person_labels(det.classes))
        self.pose = build_pose(self.person_boxes)

    def person_boxes(self, image: np.ndarray) -> list[list[float]]:
        """The person detector the pose predictor calls: this image's people from the Mask R-CNN's
        detections (``[x, y, w, h, score]``)."""
        return self._people

    def predict(self, image: np.ndarray) -> dict[str, Any]:
        detections = self.det.predict(image)
        self._people = [[b[0], b[1], b[2] - b[0], b[3] - b[1], d["score"]]
                        for d in detections if d["label"] in self._person_labels
                        and d["score"] >= self.person_score_thr for b in [d["bbox"]]]
        return {"detections": detections, "people": self.pose.predict(image), "labels": self.seg.predict(image)}

    def document(self, image: np.ndarray, result: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.det.document(image, result["detections"]), **self.pose.result_fields(result["people"]),
                **self.seg.result_fields(result["labels"])}

    def label_map(self, result: Mapping[str, Any]) -> np.ndarray:
        return result["labels"]

    @property
    def parameters(self) -> int:
        return sum(sum(p.numel() for p in part.model.parameters()) for part in (self.det, self.pose, self.seg))


def photo_to_json(pipeline: Any, path: Path) -> tuple[str, bytes | None]:
    """One photograph's whole job: decode, predict, the JSON text and the label map's PNG bytes."""
    image = read_image(path)
    result = pipeline.predict(image)
    text = json.dumps({"image": str(path), **pipeline.document(image, result)})
    labels = pipeline.label_map(result)
    png = None if labels is None else cv2.imencode(".png", labels.astype(np.uint8))[1].tobytes()
    return text, png


def _parameters(pipeline: Any) -> int:
    return pipeline.parameters if hasattr(pipeline, "parameters") else sum(
        p.numel() for p in pipeline.model.parameters())


@torch.inference_mode()
def time_pipelines(pipelines: Mapping[str, Any], photos: Sequence[Path], warmup: int = 3,
                   rounds: int = 2, progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Images/s of each pipeline over ``photos`` (after ``warmup`` photos), the best of ``rounds``
    passes, interleaved so that a machine's drift affects each alike."""
    if not photos:
        raise ValueError("no photographs to time")
    for pipeline in pipelines.values():
        for path in photos[:warmup]:
            photo_to_json(pipeline, path)
    best: dict[str, float] = {name: float("inf") for name in pipelines}
    for r in range(rounds):
        for name, pipeline in pipelines.items():
            start = time.perf_counter()
            for path in photos:
                photo_to_json(pipeline, path)
            best[name] = min(best[name], time.perf_counter() - start)
            progress(f"round {r + 1}/{rounds}: {name} {len(photos) / best[name]:.2f} images/s")
    return [{"pipeline": name, "images": len(photos), "seconds": round(best[name], 3),
             "images_per_s": round(len(photos) / best[name], 3), "parameters": _parameters(pipeline),
             **machine(), "cpu": machine_name()}
            for name, pipeline in pipelines.items()]


def format_table(records: Sequence[Mapping[str, Any]]) -> str:
    base = records[0]["images_per_s"]
    lines = ["| pipeline | parameters | images/s | x the first |", "|---|---:|---:|---:|"]
    lines += [f"| {r['pipeline']} | {r['parameters']:,} | {r['images_per_s']:.2f} | "
              f"{r['images_per_s'] / base:.2f} |" for r in records]
    return "\n".join(lines)
