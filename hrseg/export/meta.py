"""What an exported model file records about itself, so that it runs alone: the model name, its
task, the input size it was checked at, the normalisation, the class or keypoint tables, the
dtype, which axes are dynamic and what the output is.

The record is one JSON string: under the key ``hrseg`` of an ONNX file's ``metadata_props``,
and under ``rt_info/hrseg`` of an OpenVINO IR (``.xml``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from hrseg.errors import CheckpointError, ConfigError
from hrseg.meta import IMAGENET_MEAN, IMAGENET_STD
from hrseg.meta.model_names import task_of_name
from hrseg.meta.keypoints import FLIP_PAIRS, KEYPOINT_NAMES, SKELETON
from hrseg.meta.classes import CITYSCAPES_CLASSES
from hrseg.models.detection import detection_settings
from hrseg.models.mask_rcnn import mask_model
from hrseg.meta.classes import coco80_categories
from hrseg.export.files import load_onnx, load_openvino

META_KEY = "hrseg"
FORMAT_VERSION = 1
FORMATS = {".onnx": "onnx", ".xml": "openvino"}


# The detectors that export (torchvision's Faster R-CNN, Mask R-CNN and FCOS trace with the
# TorchScript-based exporter, their resize, proposals, RoIAlign and NMS included; Cascade (Mask) R-CNN
# is Faster R-CNN's with its stages, HTC Cascade Mask R-CNN's with its semantic branch and mask flow;
# the multi-task model is one of them with keypoint and segmentation outputs added).
EXPORTING_DETECTORS = ("det_fasterrcnn_", "det_maskrcnn_", "det_cascadercnn_", "det_cascademaskrcnn_", "det_htc_",
                       "det_fcos_", "multi_")


# A detector's graph takes any image size; it is traced and checked at a COCO photograph's size.
DETECTION_TRACE_SIZE = (480, 640)


def task_of(name: str) -> str:
    """'pose' | 'segmentation' | 'detection' from a model name; other families do not export."""
    if task_of_name(name) == "pose":
        return "pose"
    if task_of_name(name) == "seg":
        return "segmentation"
    if name.startswith(EXPORTING_DETECTORS):
        return "detection"
    raise ConfigError(f"model {name!r}: only pose_*, seg_*, the R-CNN and FCOS detectors and the multi-task models "
                      f"({', '.join(p + '*' for p in EXPORTING_DETECTORS)}) export")


def build_meta(model: nn.Module, name: str, input_size: tuple[int, int], dtype: str,
               dynamic_batch: bool, dynamic_size: bool) -> dict[str, Any]:
    """The record for ``model`` (called ``name``) exported at ``input_size`` (H, W)."""
    task = task_of(name)
    recorded: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}  # the model's, unfolded
    if getattr(model, "meta", None):
        recorded["model_meta"] = dict(model.meta)  # as its checkpoint has it
    if task == "detection":
        return {**_detector_meta(model, name, input_size, dtype), **recorded}
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "model": name, "task": task,
        "input_size": [int(input_size[0]), int(input_size[1])], "input_layout": "NCHW, RGB, float32",
        "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        "normalization": "(x / 255 - mean) / std", "dtype": dtype,
        "dynamic_batch": bool(dynamic_batch), "dynamic_size": bool(dynamic_size),
        "batchnorm_folded": True, **recorded,
    }
    if task == "pose":
        num_joints = int(getattr(model, "num_joints", len(KEYPOINT_NAMES)))
        meta.update(output="heatmaps (N, K, H/4, W/4)", num_joints=num_joints)
        maps = int(getattr(model, "maps_per_joint", 1))
        if maps > 1:  # UDP's combined maps (hrseg.codecs.combined)
            meta.update(output="disk, x and y offset maps per joint (N, K * 3, H/4, W/4)", maps_per_joint=maps)
        if num_joints == len(KEYPOINT_NAMES):
            meta.update(keypoint_names=list(KEYPOINT_NAMES), skeleton=[list(p) for p in SKELETON],
                        flip_pairs=[list(p) for p in FLIP_PAIRS])
    else:
        num_classes = int(getattr(model, "num_classes"))
        meta.update(output="logits (N, K, H/4, W/4) before the final resize: resize bilinearly to the input size",
                    num_classes=num_classes, align_corners=bool(getattr(model, "align_corners", False)))
        if num_classes == len(CITYSCAPES_CLASSES):
            meta.update(classes=list(CITYSCAPES_CLASSES), class_set="cityscapes")
    return meta


def detection_outputs(model: nn.Module) -> list[str]:
    """The outputs of an exported detector, in order (Mask R-CNN adds its masks; the multi-task
    model its keypoints and the class map, as it returns them)."""
    heads = getattr(model, "roi_heads", None)  # FCOS has none
    keypoints = bool(getattr(heads, "has_keypoint", lambda: False)())
    return (["boxes", "labels", "scores"] + (["masks"] if mask_model(model) else [])
            + (["keypoints", "keypoints_scores"] if keypoints else [])
            + (["semantic"] if getattr(model, "seg_head", None) is not None else []))


_OUTPUT_TEXT = {"masks": "masks (N, 1, H, W) probabilities",
                "keypoints": "keypoints (N, K, 3) x, y, 1 in input pixels (zeros for the other classes than the "
                             "keypoint class)",
                "keypoints_scores": "keypoints_scores (N, K) confidences in [0, 1]: the probability near each "
                                    "heatmap's peak",
                "semantic": "semantic (H, W) class indices at the input's size"}


def detector_classes(model: nn.Module) -> int:
    """A detector's class count with the background (``num_classes``: 81 for COCO)."""
    heads = getattr(model, "roi_heads", None)
    if heads is not None:  # R-CNN: the box classifier (Cascade R-CNN: its last stage's)
        return int((getattr(heads, "box_predictor", None) or heads.box_predictors[-1]).cls_score.out_features)
    head = model.head  # FCOS: torchvision's counts the background, mmdetection's has sigmoid classes only
    classification = getattr(head, "classification_head", None)
    return int(classification.num_classes) if classification is not None else int(head.conv_cls.out_channels) + 1


def _detector_meta(model: nn.Module, name: str, input_size: tuple[int, int], dtype: str) -> dict[str, Any]:
    """A detector's record (its classes ``[{'id', 'name'}]`` in label order): the graph takes one image of any size (RGB in [0, 1]) and does the
    resize and normalisation inside, so ``mean`` / ``std`` and ``min_size`` / ``max_size`` are
    the graph's own, for the record; ``input_size`` is the size it was traced and checked at."""
    transform, heads = model.transform, detection_settings(model)
    num_classes = detector_classes(model)
    classes = [dict(c) for c in getattr(model, "classes", None) or ()]
    if not classes and num_classes == 81:  # the convention of hrseg.tasks.detection: COCO's 80
        classes = coco80_categories()
    outputs = detection_outputs(model)
    recorded = getattr(model, "meta", None) or {}
    extra = {k: recorded[k] for k in ("keypoints", "semantic_classes") if recorded.get(k)}
    if "keypoints" in outputs:
        extra["keypoint_label"] = int(getattr(heads, "keypoint_label", 1))
    return {
        "format_version": FORMAT_VERSION, "model": name, "task": "detection",
        "input_size": [int(input_size[0]), int(input_size[1])],
        "input_layout": "(3, H, W), RGB, float32 in [0, 1], one image a call",
        "mean": [float(v) for v in transform.image_mean], "std": [float(v) for v in transform.image_std],
        "normalization": "in the graph: resized to min_size / max_size, then (x - mean) / std", "dtype": dtype,
        "min_size": [int(v) for v in transform.min_size], "max_size": int(transform.max_size),
        "dynamic_batch": False, "dynamic_size": True, "batchnorm_folded": True,
        "outputs": outputs,
        "output": ", ".join(["boxes (N, 4) xyxy in input pixels, labels (N,) 1..K, scores (N,), best first",
                             *(_OUTPUT_TEXT[k] for k in outputs if k in _OUTPUT_TEXT)]),
        "num_classes": num_classes, "classes": classes,
        "score_thresh": float(heads.score_thresh), "nms_thresh": float(heads.nms_thresh),
        "detections_per_img": int(heads.detections_per_img), **extra,
    }


def is_exported(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an exported model file (by its suffix), not a checkpoint."""
    return Path(str(path)).suffix.lower() in FORMATS


def format_of(path: str | os.PathLike) -> str:
    """'onnx' or 'openvino' from the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"{path}: an exported model is a .onnx file or an OpenVINO .xml (with its .bin)")
    return FORMATS[suffix]


def parse_meta(text: str | None, path: str | os.PathLike) -> dict[str, Any]:
    """The record from its JSON text, checked; ``CheckpointError`` naming ``path`` otherwise."""
    if not text:
        raise CheckpointError(f"{path}: no hrseg metadata in this file (not exported by hrseg's tools/export.py)")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: its hrseg metadata is not valid JSON ({e})") from None
    missing = [k for k in ("model", "task", "input_size", "mean", "std", "dtype") if k not in meta]
    if not isinstance(meta, dict) or missing:
        raise CheckpointError(f"{path}: its hrseg metadata lacks {', '.join(missing) or 'everything'}")
    return meta


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The record of an exported ``.onnx`` or OpenVINO ``.xml`` file."""
    p = Path(path)
    if format_of(p) == "onnx":
        return parse_meta({m.key: m.value for m in load_onnx(p, weights=False).metadata_props}.get(META_KEY), p)
    model = load_openvino(p)
    return parse_meta(model.get_rt_info([META_KEY]).astype(str) if model.has_rt_info([META_KEY]) else None, p)
