"""The person detector in front of top-down pose.

Default: torchvision's ``fasterrcnn_resnet50_fpn_v2`` with its COCO weights, fetched through
hrseg's cache from torchvision's published URL (hash-checked, ``-dd69338a``) and read with
``weights_only=True``. Why this one rather than hrseg's ``det_fasterrcnn_hrnetv2p_w32`` with
mmdetection's COCO weights: it is the stronger detector (box mAP 46.7 against 41.4), it is
torchvision's own model and weights, so nothing is converted (the mmdetection file needs the
class, anchor and RoIAlign conventions of :mod:`hrseg.weights.mmdet`, checked here only on
deterministic weights, never against mmdetection itself), and it is slightly smaller (43.7M
against 47.3M parameters). The HRNet detector stays one argument away:
``person_detector("det_fasterrcnn_hrnetv2p_w32.mmdet_coco_2x")``.

Either way the boxes come from :func:`hrseg.tasks.detection.detect_people`, the one person
filter of the project, which finds the person class by name in ``model.classes``.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from hrseg.checkpoint import extract_state_dict

PersonDetector = Callable[[np.ndarray], list]


def _coco91_classes() -> list[dict[str, Any]]:
    """torchvision's 91-way COCO head: label i is COCO category id i ('N/A' where unused)."""
    from hrseg.data.det.coco_instances import coco80_categories

    names = {c["id"]: c["name"] for c in coco80_categories()}
    return [{"id": i, "name": names.get(i, "N/A")} for i in range(1, 91)]


def build_torchvision_detector(path: str | os.PathLike) -> nn.Module:
    from torchvision.models.detection import fasterrcnn_resnet50_fpn_v2

    from hrseg.checkpoint import load_state
    from hrseg.utils.safe_load import read_weights

    model = fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91)
    load_state(model, extract_state_dict(read_weights(path), path), path)
    model.classes = _coco91_classes()
    return model


def build_person_detector(name_or_path: str | os.PathLike, score_thr: float = 0.5,
                          device: str = "cpu") -> PersonDetector:
    import hrseg
    from hrseg.tasks.detection import detect_people, person_detector
    from hrseg.weights import record_of, detect_layout, load_into, read_weights, resolve

    record = record_of(name_or_path, None)
    path = resolve(name_or_path)
    layout = record.layout if record else detect_layout(extract_state_dict(read_weights(path), path))
    if layout == "torchvision":
        model = build_torchvision_detector(path)
    elif layout == "mmdet_faster_rcnn":
        from hrseg.data.det.coco_instances import coco80_categories

        name = record.model if record else _hrnet_detector_for(path)
        model = hrseg.build_model(name)
        load_into(model, path, name)
        model.classes = coco80_categories()
    else:  # an hrseg detection checkpoint: the existing path, with the classes it recorded
        detect = person_detector(path, score_thr)
        return detect
    model = model.to(device).eval()
    return lambda image: detect_people(model, image, score_thr)


def _hrnet_detector_for(path: str | os.PathLike) -> str:
    """The hrseg Faster R-CNN whose width fits an mmdetection file (from its stem width)."""
    from hrseg.weights import read_weights

    state = extract_state_dict(read_weights(path), path)
    width = state["backbone.stage2.0.branches.0.0.conv1.weight"].shape[0]
    return f"det_fasterrcnn_hrnetv2p_w{width}"
