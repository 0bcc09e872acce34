"""The multi-task predictor: one forward of the multi-task model (:mod:`hrseg.models.multitask`)
gives people's and objects' boxes, their masks, the people's keypoints and the scene's label map;
this turns them into plain data, one JSON document and one overlay (segmentation tint, masks,
boxes, skeletons)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hrseg.inference.detection import (check_image, check_threshold, classes_of, detection_records, person_labels,
                                      score_floor_of)
from hrseg.inference.predictor import Predictor, SegPredictor
from hrseg.meta.keypoints import KeypointSet
from hrseg.utils.image import to_tensor
from hrseg.utils.profile import StageTimer
from hrseg.visualization.boxes import draw_boxes
from hrseg.visualization.pose import draw_poses
from hrseg.visualization.segmentation import overlay


class MultiPredictor(Predictor):
    """``predictor(image)`` -> ``{"detections": [...], "labels": (H, W) class map or None}``:
    each detection as :func:`~hrseg.inference.detection.detection_records` gives it (with its
    mask's RLE when the model has masks) and, for people when the model has keypoints,
    ``keypoints`` ``{name: [x, y, score]}``; the label map when it has a segmentation head."""

    task = "multi"
    options = {"score_thr": (0.0, 1.0), "kpt_thr": (0.0, 1.0)}

    def __init__(self, runner: nn.Module, model: nn.Module, keypoints: KeypointSet | None,
                 seg_classes: Sequence[str] | None, colours: np.ndarray | None, score_thr: float = 0.3,
                 kpt_thr: float = 0.3, alpha: float = 0.4, timer: StageTimer | None = None) -> None:
        super().__init__(runner, model, timer)
        check_threshold(score_thr)
        self.classes, self.keypoints, self.score_thr, self.kpt_thr = classes_of(model), keypoints, score_thr, kpt_thr
        self.score_floor = score_floor_of(runner)
        self.fit_score_thr()  # the mask and keypoint heads run for the reported detections only
        self.people = set(person_labels(self.classes)) if keypoints is not None else set()
        # the class areas and the tint: the segmentation predictor's own
        self.scene = (SegPredictor(runner, model, {}, list(seg_classes), colours, alpha)
                      if seg_classes is not None else None)

    @torch.no_grad()
    def predict(self, image: np.ndarray, key: Any = None) -> dict[str, Any]:
        check_image(image)
        device = next(self.runner.parameters()).device
        output = self.runner([to_tensor(image).to(device)])[0]
        detections = []
        for row, record in detection_records(output, self.classes, self.score_thr):
            if record["label"] in self.people and "keypoints" in output:
                points = output["keypoints"][row].detach().float().cpu().tolist()
                scores = output.get("keypoints_scores")
                record["keypoints"] = {name: [round(x, 2), round(y, 2), self._score(scores, row, k, v)]
                                       for k, (name, (x, y, v)) in enumerate(zip(self.keypoints.names, points))}
            detections.append(record)
        labels = output.get("semantic")
        return {"detections": detections,
                "labels": labels.cpu().numpy().astype(np.uint8) if labels is not None else None}

    def _score(self, scores: torch.Tensor | None, row: int, k: int, visible: float) -> float:
        """A keypoint's score: the model's confidence in [0, 1] (hrseg.models.multitask_heads), the
        visibility where the model gives none."""
        return round(float(visible if scores is None else scores[row, k]), 4)

    def follow(self, result: dict[str, Any], image: np.ndarray | None = None) -> dict[str, Any]:
        return {**result, "detections": super().follow(result["detections"], image)}

    def result_fields(self, result: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"box_format": "xyxy", "score_thr": self.score_thr, "detections": result["detections"]}
        if self.keypoints is not None:
            fields.update(keypoint_names=list(self.keypoints.names),
                          skeleton=[list(p) for p in self.keypoints.skeleton])
        if self.scene is not None and result["labels"] is not None:
            fields.update(self.scene.result_fields(result["labels"]))
        return fields

    def draw(self, image: np.ndarray, result: Mapping[str, Any]) -> np.ndarray:
        """The scene's tint, then the masks and boxes, then the skeletons."""
        canvas = image
        if self.scene is not None and result["labels"] is not None:
            canvas = overlay(canvas, result["labels"], self.scene.colours, self.scene.alpha)
        canvas = draw_boxes(canvas, result["detections"])
        people = [{"keypoints": d["keypoints"]} for d in result["detections"] if "keypoints" in d]
        if people and self.keypoints is not None:
            canvas = draw_poses(canvas, people, self.kpt_thr, draw_boxes=False, keypoints=self.keypoints)
        return canvas

    def count(self, result: Mapping[str, Any]) -> int:
        return len(result["detections"])

    def label_map(self, result: Mapping[str, Any]) -> np.ndarray | None:
        return result["labels"]

    def describe(self) -> dict[str, Any]:
        out = {**super().describe(), "classes": [c["name"] for c in self.classes],
               "heads": dict(getattr(self.model, "heads", {}))}
        if self.keypoints is not None:
            out["keypoint_names"] = list(self.keypoints.names)
        if self.scene is not None:
            out["segmentation_classes"] = self.scene.classes
        return out
