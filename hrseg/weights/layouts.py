"""Key layouts of the published files, recognised from their keys and converted to hrseg's.

The facts come from ``reference/openmmlab_meta.json``:

- mmpose 1.x is hrseg's own pose layout (``backbone.*``, ``head.final_layer.*``); mmpose 0.x
  names the head ``keypoint_head.``. Same model, same outputs.
- mmsegmentation FCN / OCRNet: the backbone is the official one under ``backbone.``; the heads'
  conv+norm modules have no conv bias where hrseg's (the official code's) have one, so that bias
  is set to zero (exact); the models were trained with ``align_corners=False``, which travels
  with the weights (the official OCR Cityscapes file wants True: the record says so).
- ImageNet classification files (timm's safetensors and ``.pth``, the official and OpenMMLab
  mirror files, whose classifier may be named ``head.*``): the backbone is kept, the classifier
  left out and named.
- mmdetection Faster R-CNN, Mask R-CNN, Cascade R-CNN and FCOS HRNetV2p: :mod:`hrseg.weights.mmdet`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from hrseg.checkpoint import CLASSIFICATION_HEAD
from hrseg.errors import CheckpointError
from hrseg.weights.converted import Converted, rename_prefixes as _rename
from hrseg.weights.mmdet import convert_cascade_rcnn, convert_faster_rcnn, convert_fcos

# An ImageNet file's classifier: the official names, or ``head.*`` in the files the pose recipes use.
_CLASSIFIER = ("incre_modules.", "downsamp_modules.", "classifier.", "head.")


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """Name the layout of a state dict from its keys."""
    keys = set(state)
    if any(k.startswith("rpn_head.") for k in keys) and any(k.startswith("roi_head.bbox_head.0.") for k in keys):
        return "mmdet_cascade_rcnn"
    if any(k.startswith("rpn_head.") for k in keys) and any(k.startswith("roi_head.bbox_head.") for k in keys):
        return "mmdet_faster_rcnn"
    if any(k.startswith("neck.") for k in keys) and any(k.startswith("bbox_head.") for k in keys):
        return "mmdet_fcos" if "bbox_head.conv_centerness.weight" in keys else "mmdet_single_stage"
    if any(k.startswith("roi_heads.box_predictor.") for k in keys) and any(k.startswith("backbone.fpn.") for k in keys):
        return "torchvision"
    if any(k.startswith("decode_head.1.object_context_block.") for k in keys):
        return "mmseg_ocr"
    if "decode_head.conv_seg.weight" in keys:
        return "mmseg_fcn"
    if "keypoint_head.final_layer.weight" in keys:
        return "mmpose0x"
    if "conv1.weight" in keys and any(k.startswith(_CLASSIFIER) for k in keys):
        return "imagenet"
    return "hrseg"  # hrseg's own, mmpose 1.x (identical) and the official pose / segmentation layouts


def _zero_bias(state: dict[str, torch.Tensor], weights: list[str]) -> list[str]:
    """hrseg's conv has a bias the OpenMMLab ConvModule lacks: zero is exactly the same function."""
    done = []
    for w in weights:
        if w in state and w.replace(".weight", ".bias") not in state:
            state[w.replace(".weight", ".bias")] = torch.zeros(state[w].shape[0], dtype=state[w].dtype)
            done.append(w.rsplit(".", 1)[0])
    return done


_FCN = {"decode_head.convs.0.conv.": "head.last_layer.0.", "decode_head.convs.0.bn.": "head.last_layer.1.",
        "decode_head.conv_seg.": "head.last_layer.3."}
_OCB = "decode_head.1.object_context_block."
_OCR_OCB = "head.ocr_distri_head.object_context_block."
_OCR = {
    "decode_head.0.convs.0.conv.": "head.aux_head.0.", "decode_head.0.convs.0.bn.": "head.aux_head.1.",
    "decode_head.0.conv_seg.": "head.aux_head.3.",
    "decode_head.1.bottleneck.conv.": "head.conv3x3_ocr.0.", "decode_head.1.bottleneck.bn.": "head.conv3x3_ocr.1.",
    f"{_OCB}bottleneck.conv.": "head.ocr_distri_head.conv_bn_dropout.0.",
    f"{_OCB}bottleneck.bn.": "head.ocr_distri_head.conv_bn_dropout.1.0.",
    "decode_head.1.conv_seg.": "head.cls_head.",
    **{f"{_OCB}{mm}_project.{i}.conv.": f"{_OCR_OCB}{ours}.{2 * i}." for mm, ours in (("query", "f_pixel"),
                                                                                     ("key", "f_object"))
       for i in (0, 1)},
    **{f"{_OCB}{mm}_project.{i}.bn.": f"{_OCR_OCB}{ours}.{2 * i + 1}.0." for mm, ours in (("query", "f_pixel"),
                                                                                         ("key", "f_object"))
       for i in (0, 1)},
    f"{_OCB}value_project.conv.": f"{_OCR_OCB}f_down.0.", f"{_OCB}value_project.bn.": f"{_OCR_OCB}f_down.1.0.",
    f"{_OCB}out_project.conv.": f"{_OCR_OCB}f_up.0.", f"{_OCB}out_project.bn.": f"{_OCR_OCB}f_up.1.0.",
}


def convert(state: Mapping[str, torch.Tensor], layout: str | None = None,
            path: str | os.PathLike = "<state dict>") -> Converted:
    """``state`` (any supported layout, detected unless given) in hrseg's keys; ``path`` (its file)
    names it in a refusal."""
    layout = layout or detect_layout(state)
    if layout == "mmpose0x":
        return Converted(layout, _rename(state, {"keypoint_head.final_layer.": "head.final_layer."}))
    if layout in ("mmseg_fcn", "mmseg_ocr"):
        out = _rename(state, _FCN if layout == "mmseg_fcn" else _OCR)
        biased = _zero_bias(out, ["head.last_layer.0.weight", "head.aux_head.0.weight", "head.conv3x3_ocr.0.weight"])
        note = f"{layout}: conv bias of {', '.join(biased)} set to 0 (the OpenMMLab ConvModule has none)"
        # align_corners=False, as mmsegmentation trains: set (and noted) by a whole load, not by pretrained=
        return Converted(layout, out, notes=[note], align_corners=False)
    if layout == "imagenet":
        head = tuple(CLASSIFICATION_HEAD) + ("head.", "fc.")
        left = [k for k in state if k.startswith(head)]
        kept = {k: v for k, v in state.items() if not k.startswith(head)}
        groups = sorted({k.split(".", 1)[0] for k in left})
        note = f"ImageNet classification file: left out its classifier ({len(left)} keys of {', '.join(groups)})"
        return Converted(layout, kept, left, [note])
    if layout == "mmdet_faster_rcnn":
        return convert_faster_rcnn(state, path)
    if layout == "mmdet_cascade_rcnn":
        return convert_cascade_rcnn(state, path)
    if layout == "mmdet_fcos":
        return convert_fcos(state)
    if layout == "mmdet_single_stage":
        raise CheckpointError(f"{path}: an mmdetection single-stage detector other than FCOS (no "
                              "bbox_head.conv_centerness); hrseg loads mmdetection's Faster, Mask and Cascade (Mask) "
                              "R-CNN and FCOS HRNetV2p files")
    return Converted(layout, dict(state))


def backbone_part(converted: Converted) -> Converted:
    """Only the HRNet of ``converted`` (bare keys), for ``pretrained=``: the rest is left out."""
    state = converted.state
    for prefix in ("backbone.body.backbone.", "backbone."):
        if any(k.startswith(prefix) for k in state):
            kept = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            left = [k for k in state if not k.startswith(prefix)]
            groups = ", ".join(sorted({k.split(".", 1)[0] for k in left}))
            notes = converted.notes + ([f"pretrained: left out {len(left)} keys outside the backbone ({groups})"]
                                       if left else [])
            return Converted(converted.layout, kept, converted.left_out + left, notes)
    return Converted(converted.layout, dict(state), list(converted.left_out), list(converted.notes))
