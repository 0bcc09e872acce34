"""Detection on photographs: boxes (and Mask R-CNN's masks) of a torchvision-style detector as
plain data, the person boxes top-down pose starts from, and the detection predictor.

:func:`detect` is the one place a detector's output becomes ``{'bbox', 'label', 'name',
'category_id', 'score'(, 'segmentation')}`` records: the tools, the service and the person
detector of pose all go through it.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hrseg.data.det.instance_masks import encode_mask
from hrseg.errors import ConfigError, DataError
from hrseg.inference.predictor import Predictor, check_score_floor, skip_unreported
from hrseg.utils.image import to_tensor
from hrseg.utils.profile import StageTimer
from hrseg.visualization.boxes import draw_boxes


def classes_of(model: nn.Module, classes: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``classes``, else the ``model.classes`` a loaded detector carries (``[{'id', 'name'}]`` in label order)."""
    classes = classes if classes is not None else getattr(model, "classes", None)
    if not classes:
        raise ConfigError("the detector's classes are unknown: load it with load_detector(weights) "
                          "or pass classes=[{'id': ..., 'name': ...}, ...] in label order")
    return [dict(c) for c in classes]


def check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
                else type(image).__name__)
        raise DataError(f"expected a uint8 RGB image of shape (H, W, 3), got a {desc}")


def check_threshold(score_thr: float) -> None:
    if not 0.0 <= float(score_thr) <= 1.0:
        raise ConfigError(f"score threshold must be between 0 and 1, got {score_thr}")


def detection_records(output: Mapping[str, torch.Tensor], classes: Sequence[Mapping[str, Any]],
                      score_thr: float) -> list[tuple[int, dict[str, Any]]]:
    """One image's torchvision output (xyxy boxes, labels 1..K, scores; Mask R-CNN's masks) as
    ``(row, record)`` pairs scoring at least ``score_thr``, best first: ``{'bbox': [x1, y1, x2, y2],
    'label', 'name', 'category_id', 'score'}`` (and ``segmentation``, COCO RLE); ``row`` is the
    output's row, for the heads that add to a record (the multi-task model's keypoints)."""
    found = []
    for i, (box, label, score) in enumerate(zip(output["boxes"].cpu().tolist(), output["labels"].tolist(),
                                                output["scores"].cpu().tolist())):
        if score >= score_thr and 1 <= label <= len(classes):
            record = {"bbox": [round(v, 2) for v in box], "label": int(label), "name": classes[label - 1]["name"],
                      "category_id": int(classes[label - 1]["id"]), "score": round(float(score), 4)}
            if "masks" in output:  # Mask R-CNN: the instance mask as COCO RLE (drawn by draw_boxes)
                record["segmentation"] = encode_mask(output["masks"][i, 0].cpu().numpy() >= 0.5)
            found.append((i, record))
    return sorted(found, key=lambda pair: -pair[1]["score"])


@torch.no_grad()
def detect(model: nn.Module, image: np.ndarray, classes: Sequence[Mapping[str, Any]] | None = None,
           score_thr: float = 0.3) -> list[dict[str, Any]]:
    """Boxes in a uint8 RGB (H, W, 3) image scoring at least ``score_thr``, best first
    (:func:`detection_records`). ``classes`` defaults to ``model.classes``."""
    classes = classes_of(model, classes)
    check_image(image)
    check_threshold(score_thr)
    device = next(model.parameters()).device
    output = model([to_tensor(image).to(device)])[0]
    return [record for _, record in detection_records(output, classes, score_thr)]


def person_labels(classes: Sequence[Mapping[str, Any]]) -> list[int]:
    """The labels (1..K) of the class named ``person``; a :class:`ConfigError` when there is none."""
    labels = [i + 1 for i, c in enumerate(classes) if str(c["name"]).lower() == "person"]
    if not labels:
        raise ConfigError(f"the detector has no 'person' class (its classes: "
                          f"{', '.join(str(c['name']) for c in classes[:8])}{', ...' if len(classes) > 8 else ''})")
    return labels


def detect_people(model: nn.Module, image_rgb: np.ndarray, score_threshold: float = 0.5) -> list[list[float]]:
    """Person boxes ``[x, y, w, h, score]`` (COCO's box format, image pixels), best first. The
    person class is found by name among ``model.classes``, so a COCO detector and one trained on
    the synthetic split both work."""
    labels = person_labels(classes_of(model))
    people = []
    for det in detect(model, image_rgb, None, score_threshold):
        if det["label"] in labels:
            x1, y1, x2, y2 = det["bbox"]
            people.append([x1, y1, round(x2 - x1, 2), round(y2 - y1, 2), det["score"]])
    return people


class PersonDetector:
    """``image -> [[x, y, w, h, score], ...]``: the person boxes of a detector, with ``name``
    saying where they come from (a published name or a file), as pose answers name it."""

    def __init__(self, model: nn.Module, name: str, score_thr: float = 0.5) -> None:
        check_threshold(score_thr)
        check_score_floor(score_thr, score_floor_of(model))  # an exported graph: its own floor
        person_labels(classes_of(model))  # no person class: say so now, not at the first image
        self.model, self.name, self.score_thr = model, name, score_thr
        skip_unreported(model, score_thr)

    def __call__(self, image: np.ndarray) -> list[list[float]]:
        return detect_people(self.model, image, self.score_thr)


def score_floor_of(runner: nn.Module) -> float | None:
    """The score under which an exported detector graph (its record's ``score_thresh``) returns no
    detection; None for an eager model (its predictors set its threshold:
    :func:`~hrseg.inference.predictor.skip_unreported`)."""
    meta = getattr(runner, "meta", None) or {}
    return float(meta["score_thresh"]) if "score_thresh" in meta else None


class DetPredictor(Predictor):
    """Boxes (and masks) with their classes, scoring at least ``score_thr``."""

    task = "det"
    options = {"score_thr": (0.0, 1.0)}

    def __init__(self, runner: nn.Module, model: nn.Module, score_thr: float = 0.3,
                 timer: StageTimer | None = None) -> None:
        super().__init__(runner, model, timer)
        check_threshold(score_thr)
        self.classes, self.score_thr = classes_of(model), float(score_thr)
        self.score_floor = score_floor_of(runner)
        self.fit_score_thr()

    def predict(self, image: np.ndarray, key: Any = None) -> list[dict[str, Any]]:
        return detect(self.runner, image, self.classes, self.score_thr)

    def result_fields(self, detections: list[dict[str, Any]]) -> dict[str, Any]:
        return {"box_format": "xyxy", "score_thr": self.score_thr, "detections": detections}

    def draw(self, image: np.ndarray, detections: list[dict[str, Any]]) -> np.ndarray:
        return draw_boxes(image, detections)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "classes": [c["name"] for c in self.classes]}
