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

Either way the boxes come from :func:`hrseg.inference.detection.detect_people`, the one person
filter of the project, which finds the person class by name in ``model.classes``; the person
detector itself is built one layer up (:func:`hrseg.tasks.person_boxes.person_detector`), where
an hrseg detection checkpoint is loaded with its recorded config.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import nn
from torchvision.models.detection import fasterrcnn_resnet50_fpn_v2

from hrseg.checkpoint import extract_state_dict, load_state
from hrseg.errors import CheckpointError
from hrseg.meta.classes import coco80_categories
from hrseg.models.backbones import named_spec, named_specs
from hrseg.models.detection import registered_name
from hrseg.utils.safe_load import read_weights
from hrseg.weights import build_model, detect_layout, load_into, record_of, resolve
from hrseg.weights.mmdet import FCOS_MODEL_OPTIONS, is_htc


def _coco91_classes() -> list[dict[str, Any]]:
    """torchvision's 91-way COCO head: label i is COCO category id i ('N/A' where unused)."""
    names = {c["id"]: c["name"] for c in coco80_categories()}
    return [{"id": i, "name": names.get(i, "N/A")} for i in range(1, 91)]


def build_torchvision_detector(path: str | os.PathLike, content: Mapping[str, Any] | None = None) -> nn.Module:
    """torchvision's COCO Faster R-CNN (ResNet-50 FPN v2) with the weights of ``path`` (``content``:
    the file as read already) and its 91-way classes."""
    model = fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=91)
    load_state(model, extract_state_dict(content if content is not None else read_weights(path), path), path)
    model.classes = _coco91_classes()
    return model


def load_published_detector(name_or_path: str | os.PathLike) -> tuple[nn.Module | None, str]:
    """The detector of a published name, a torchvision or an mmdetection file, with its classes
    (``model.classes``), in eval mode, and the file it came from; ``(None, path)`` for any other
    file (an hrseg detection checkpoint, which the detection task loads with its recorded config)."""
    record = record_of(name_or_path, None)
    path = resolve(name_or_path)
    content = read_weights(path)
    layout = record.layout if record else detect_layout(extract_state_dict(content, path))
    if layout == "torchvision":
        model = build_torchvision_detector(path, content)
    elif layout in ("mmdet_faster_rcnn", "mmdet_cascade_rcnn", "mmdet_fcos"):
        name = record.model if record else _hrnet_detector_for(extract_state_dict(content, path), layout, path)
        model = build_model(name, **(FCOS_MODEL_OPTIONS if layout == "mmdet_fcos" else {}))
        load_into(model, path, name, record=record, content=content)
        model.classes = coco80_categories()
    else:
        return None, str(path)
    return model.eval(), str(path)


def _hrnet_detector_for(state: Mapping[str, Any], layout: str, path: str | os.PathLike = "<state dict>") -> str:
    """The hrseg detector an mmdetection file of ``layout`` fills: FCOS, HTC, Cascade or plain R-CNN, with masks
    where it has a mask head, on the named HRNet its backbone is (:func:`_named_hrnet`)."""
    masks = any(k.startswith("roi_head.mask_head.") for k in state)
    cascade = "det_htc" if is_htc(state) else "det_cascademaskrcnn" if masks else "det_cascadercnn"
    kind = {"mmdet_fcos": "det_fcos", "mmdet_cascade_rcnn": cascade}.get(layout, "det_maskrcnn" if masks
                                                                          else "det_fasterrcnn")
    return registered_name(kind, _named_hrnet(state, path))


def _named_hrnet(state: Mapping[str, Any], path: str | os.PathLike, prefix: str = "backbone.") -> str:
    """The named HRNet (:func:`hrseg.models.backbones.named_specs`) whose width, modules per stage
    and blocks per branch the backbone keys of ``state`` (under ``prefix``) have: W18-small v1 has
    branches of 16 channels, so the width alone does not name it. None fits: a
    :class:`CheckpointError` naming the file."""
    def count(head: str) -> int:
        """How many numbered modules follow ``head`` among the keys (1 + the largest number)."""
        numbers = [k[len(prefix + head):].split(".", 1)[0] for k in state if k.startswith(prefix + head)]
        return 1 + max((int(n) for n in numbers if n.isdigit()), default=-1)

    try:
        found = (int(state[f"{prefix}stage2.0.branches.0.0.conv1.weight"].shape[0]),
                 tuple(count(f"stage{s}.") for s in (2, 3, 4)), count("stage2.0.branches.0."), count("layer1."))
    except KeyError:
        raise CheckpointError(f"{path}: no HRNet backbone under {prefix!r} (an mmdetection HRNetV2p file has one)") \
            from None
    for name in named_specs():
        stages = named_spec(name).stages
        if found == (stages[1].num_channels[0], tuple(s.num_modules for s in stages[1:]),
                     stages[1].num_blocks[0], stages[0].num_blocks[0]):
            return name
    raise CheckpointError(f"{path}: its HRNet (branch width {found[0]}, modules {found[1]}, {found[2]} blocks a "
                          f"branch) is none of hrseg's named ones ({', '.join(named_specs())})")
