"""The person detector in front of top-down pose: published by name, an OpenMMLab / torchvision
file, or an hrseg detection checkpoint; by default torchvision's COCO Faster R-CNN, and when that
cannot be had, the whole image with a warning. One function serves the tools and the service."""
from __future__ import annotations

import logging
import os

from hrseg.errors import CheckpointError
from hrseg.export.meta import is_exported
from hrseg.inference.detection import PersonDetector
from hrseg.inference.person_boxes import boxes_for, read_boxes  # noqa: F401  (re-exported)
from hrseg.tasks.detection import TASK as DETECTION
from hrseg.weights.detector import load_published_detector

log = logging.getLogger("hrseg")


# The person detector in front of pose when no boxes are given: torchvision's COCO Faster R-CNN
# (box AP 46.7, person boxes close to the official AP-56 detector's; docs/weights.md says why).
DEFAULT_PERSON_DETECTOR = "fasterrcnn_resnet50_fpn_v2.torchvision_coco"


def load_person_detector(weights: str | os.PathLike, score_thr: float = 0.5) -> PersonDetector:
    """The detector in ``weights`` (a published name, an hrseg, OpenMMLab or torchvision file, or
    a detector ``hrseg export`` wrote) as a :class:`PersonDetector` named after ``weights``. Errors
    name the file."""
    model, path = (None, weights) if is_exported(weights) else load_published_detector(weights)
    if model is None:  # an hrseg detection checkpoint or export: its recorded config, on its runner
        model, cfg = DETECTION.load_model(path)
        model = DETECTION.runner(model, cfg, score_thr)
    return PersonDetector(model, str(weights), score_thr)


def person_detector(det_weights: str | os.PathLike | None = None, score_thr: float = 0.5) -> PersonDetector | None:
    """The person-box source of pose when no boxes are given: the detector in ``det_weights``,
    else the default COCO detector by name; when that one cannot be had (offline, not in the
    cache), None (each whole image is one person) with a warning saying how to get it."""
    if det_weights is not None:
        return load_person_detector(det_weights, score_thr)
    try:
        return load_person_detector(DEFAULT_PERSON_DETECTOR, score_thr)
    except CheckpointError as e:
        log.warning(f"no person detector ({e}); each whole image is taken as one person. Get the detector with "
                    f"`hrseg weights download {DEFAULT_PERSON_DETECTOR}`, or name another one (--det-weights; "
                    "hrseg serve: --pose-det-weights), or give the boxes (hrseg infer pose --boxes)")
        return None
