"""One HRNet, every head: boxes, instance masks and keypoints on the same RoIs, and the scene's
semantic segmentation, in one forward pass.

The network is :func:`hrseg.models.detection.build_faster_rcnn`'s (HRNet -> V2p neck -> RPN ->
RoI box head, the same anchors and settings) with, each optional by config:

- the mask branch of :mod:`hrseg.models.mask_rcnn` (RoIAlign 14x14, convs, 2x deconvolution,
  one 28x28 mask per class);
- torchvision's keypoint branch (RoIAlign 14x14, ``keypoint_convs`` 3x3 convs, a deconvolution
  and a 2x upsampling to 56x56 heatmaps; loss: spatial-softmax cross-entropy on the one-hot
  target pixel, decoding: the argmax with torchvision's rule; ``keypoint_loss="gaussian_softmax"``:
  the same softmax against a Gaussian; or ``"heatmap"``: Gaussian heatmaps with hrseg's codec and
  MSE, :mod:`hrseg.models.multitask_keypoints`).
  Keypoints are predicted for the person detections only;
- the V2 segmentation head of :mod:`hrseg.models.segmentation` on the concatenated streams (the
  same tensor the V2p neck reduces: computed once), at stride 4.

Partial labels (:mod:`hrseg.models.multitask_heads`): a target may say ``has_masks`` /
``has_keypoints`` False, and its ``semantic`` map (H, W) int64 may be all 255 (ignored).
Targets carry ``masks`` (N, H, W) uint8 and ``keypoints`` (N, K, 3) float for every image when
those heads are on (zeros where unknown) and ``semantic`` when the segmentation head is on.

Outputs (eval): torchvision's dicts (``boxes``, ``labels``, ``scores``, ``masks`` (N, 1, H, W),
``keypoints`` (N, K, 3), ``keypoints_scores``) plus ``semantic``: the (H, W) int64 class map at
the image's size. Training returns the loss dict: torchvision's terms, ``loss_seg``, and the
counts of images without mask / keypoint labels.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from hrseg.errors import ConfigError
from hrseg.losses.segmentation import SegCrossEntropy
from hrseg.meta.classes import IGNORE_INDEX
from hrseg.meta.keypoints import COCO_PERSON
from hrseg.meta.model_names import task_of_name
from hrseg.models.backbones.hrnet import named_specs
from hrseg.models.detection import (DETECTOR_ALIASES, RCNN_OPTIONS, HRNetFasterRCNN, build_faster_rcnn,
                                    detector_options, registered_name)
from hrseg.models.mmdet_conventions import pool_like
from hrseg.models.multitask_heads import COUNT_KEYS, MultiRoIHeads
from hrseg.models.multitask_keypoints import KEYPOINT_LOSSES
from hrseg.models.registry import ModelInfo, register_model
from hrseg.models.segmentation import SegHead, class_indices

__all__ = ["COUNT_KEYS", "HRNetMultiTask", "Tap", "build_multitask", "is_multitask_model"]


class Tap(nn.Module):
    """Runs ``module`` and keeps its last output (``last``): the V2 concatenation the V2p neck
    computes, read again by the segmentation head. No parameters, so no state-dict keys."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.last: torch.Tensor | None = None
        self.out_channels = module.out_channels

    def forward(self, *args: Any) -> torch.Tensor:
        self.last = self.module(*args)
        return self.last


class HRNetMultiTask(HRNetFasterRCNN):
    """The multi-task model (module docstring). Built by :func:`build_multitask`."""

    checkpoint_aliases: ClassVar[dict[str, str]] = DETECTOR_ALIASES
    seg_head: SegHead | None
    seg_loss: SegCrossEntropy | None

    @property
    def tap(self) -> Tap:
        return self.backbone.body.neck.concat

    def forward(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None):
        if self.training and targets is None:
            raise ValueError("in training mode the model takes targets")
        # the shapes' own elements (ints when eager; traced values when exported, as torchvision's
        # GeneralizedRCNN keeps them, so the exported graph takes any image size)
        original_sizes = [(img.shape[-2], img.shape[-1]) for img in images]
        batch, targets = self.transform(images, targets)
        features = self.backbone(batch.tensors)
        proposals, rpn_losses = self.rpn(batch, features, targets)
        # the RoI pools read their levels by name: "v2" (the concatenation, stride 4) for a keypoint
        # branch built with keypoint_features="v2"; the RPN above must not see it (one anchor size a level)
        features = {**features, "v2": self.tap.last}
        detections, head_losses = self.roi_heads(features, proposals, batch.image_sizes, targets)
        seg_logits = self.seg_head(self.tap.last) if self.seg_head is not None else None
        self.tap.last = None
        if self.training:
            losses = {**rpn_losses, **head_losses}
            if seg_logits is not None:
                labels = _padded_labels([t["semantic"] for t in targets], batch.image_sizes, batch.tensors.shape[-2:])
                losses["loss_seg"] = self.seg_loss.single(seg_logits, labels)
            return losses
        detections = self.transform.postprocess(detections, batch.image_sizes, original_sizes)
        if seg_logits is not None:
            full = F.interpolate(seg_logits, size=batch.tensors.shape[-2:], mode="bilinear", align_corners=False)
            for i, ((h, w), size) in enumerate(zip(batch.image_sizes, original_sizes)):
                logits = full[i:i + 1, :, :h, :w]
                if torch.jit.is_tracing() or (h, w) != tuple(size):  # at the same size: the identity
                    logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
                detections[i]["semantic"] = class_indices(logits[0])
        return detections

    @property
    def heads(self) -> dict[str, bool]:
        """Which heads the model has: boxes (always), masks, keypoints, segmentation."""
        return {"boxes": True, "masks": self.roi_heads.has_mask(), "keypoints": self.roi_heads.has_keypoint(),
                "segmentation": self.seg_head is not None}


def _padded_labels(labels: list[torch.Tensor], sizes: list[tuple[int, int]], padded: Any) -> torch.Tensor:
    """Each label map resized (nearest) to its image's size in the batch, padded with 255."""
    out = labels[0].new_full((len(labels), int(padded[0]), int(padded[1])), IGNORE_INDEX, dtype=torch.int64)
    for i, (label, (h, w)) in enumerate(zip(labels, sizes)):
        if tuple(label.shape[-2:]) != (h, w):
            label = F.interpolate(label[None, None].float(), size=(h, w), mode="nearest")[0, 0]
        out[i, :h, :w] = label.long()
    return out


KEYPOINT_FEATURES = ("pyramid", "v2")
NORMS = {"bn": nn.BatchNorm2d, "gn": lambda c: nn.GroupNorm(min(32, c // 4), c)}


def conv_head(in_channels: int, channels: int, convs: int, norm: str) -> nn.Sequential:
    """``convs`` 3x3 convs of ``channels``, each followed by ``norm`` (:data:`NORMS`) and ReLU
    (torchvision's keypoint head with a norm layer: a head trained from scratch in a few hundred
    steps converges faster with one)."""
    layers: list[nn.Module] = []
    for i in range(convs):
        conv = nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1, bias=False)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        layers += [conv, NORMS[norm](channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@detector_options("multi", RCNN_OPTIONS, build_faster_rcnn)
def build_multitask(hrnet_name: str, num_classes: int = 81, masks: bool = True, keypoints: bool = True,
                    num_keypoints: int = 17, seg_classes: int = 0, keypoint_label: int = 1,
                    mask_channels: int = 256, mask_convs: int = 4, mask_roi_size: int = 14,
                    keypoint_channels: int = 512, keypoint_convs: int = 8, keypoint_roi_size: int = 14,
                    mask_rois_per_image: int | None = None, keypoint_rois_per_image: int | None = None,
                    keypoint_loss: str = "softmax", keypoint_sigma: float = 2.0, keypoint_norm: str | None = None,
                    keypoint_features: str = "pyramid", sampling_ratio: int = 2, **options: Any) -> HRNetMultiTask:
    """The multi-task HRNetV2p. ``masks`` / ``keypoints``: those RoI branches; ``seg_classes`` > 0
    adds the segmentation head with that many classes. The defaults are the official Mask R-CNN
    mask branch and torchvision's Keypoint R-CNN branch (8 convs of 512); ``options`` go to
    :func:`~hrseg.models.detection.build_faster_rcnn` (``min_size``, ``out_channels``,
    ``anchor_scale``, ``norm_eval``, torchvision's ``rpn_*`` / ``box_*``). ``keypoint_loss``:
    ``"softmax"`` (torchvision's), ``"gaussian_softmax"`` or ``"heatmap"``
    (:mod:`hrseg.models.multitask_keypoints`). ``keypoint_norm`` ``"bn"`` / ``"gn"``: a BatchNorm /
    GroupNorm after each of the keypoint head's convs (torchvision's head has none: its state-dict
    layout is kept when None). ``keypoint_features``: the keypoint RoIs are pooled from the V2p
    pyramid (``"pyramid"``, each RoI from its level, as torchvision) or from the V2 concatenation
    (``"v2"``: all streams, 15C channels at stride 4, before the neck reduces them). Any other key, or a
    value out of its range, is a :class:`ConfigError` (:func:`~hrseg.models.detection.check_options`)."""
    if keypoint_loss not in KEYPOINT_LOSSES:
        raise ConfigError(f"model.keypoint_loss is {keypoint_loss!r}; one of {', '.join(KEYPOINT_LOSSES)}")
    if keypoint_norm not in (None, *NORMS):
        raise ConfigError(f"model.keypoint_norm is {keypoint_norm!r}; None or one of {', '.join(NORMS)}")
    if keypoint_features not in KEYPOINT_FEATURES:
        raise ConfigError(f"model.keypoint_features is {keypoint_features!r}; one of {', '.join(KEYPOINT_FEATURES)}")
    model = build_faster_rcnn(hrnet_name, num_classes, sampling_ratio=sampling_ratio, **options)
    model.__class__ = HRNetMultiTask  # the same modules; the heads below are added to them
    body, heads = model.backbone, model.roi_heads
    heads.__class__ = MultiRoIHeads
    heads.keypoint_label = int(keypoint_label)
    heads.mask_rois_per_image, heads.keypoint_rois_per_image = mask_rois_per_image, keypoint_rois_per_image
    heads.keypoint_loss, heads.keypoint_sigma = keypoint_loss, float(keypoint_sigma)
    levels = body.names[:4]
    neck = body.body.neck
    if masks:
        heads.mask_roi_pool = pool_like(heads.box_roi_pool, levels, mask_roi_size, sampling_ratio)
        heads.mask_head = MaskRCNNHeads(body.out_channels, (mask_channels,) * mask_convs, 1)
        heads.mask_predictor = MaskRCNNPredictor(mask_channels, mask_channels, num_classes)
    if keypoints:
        v2 = keypoint_features == "v2"
        in_channels = neck.concat.out_channels if v2 else body.out_channels
        heads.keypoint_roi_pool = MultiScaleRoIAlign(["v2"] if v2 else levels, keypoint_roi_size, sampling_ratio)
        heads.keypoint_head = (conv_head(in_channels, keypoint_channels, keypoint_convs, keypoint_norm) if keypoint_norm
                               else KeypointRCNNHeads(in_channels, (keypoint_channels,) * keypoint_convs))
        heads.keypoint_predictor = KeypointRCNNPredictor(keypoint_channels, num_keypoints)
    neck.concat = Tap(neck.concat)
    model.seg_head = SegHead(neck.concat.out_channels, seg_classes) if seg_classes > 0 else None
    model.seg_loss = SegCrossEntropy(IGNORE_INDEX) if seg_classes > 0 else None
    return model


def is_multitask_model(name: str) -> bool:
    """Whether the registered model ``name`` is a multi-task model."""
    return task_of_name(name) == "multi"


def _register() -> None:
    # the keypoint set itself, as a checkpoint's meta records it (a table's name would reach the config as a string)
    info = ModelInfo("multi", (800, 1333), "coco", extra={"keypoints": COCO_PERSON.to_dict()})
    for name in named_specs():
        register_model(registered_name("multi", name), lambda _n=name, **kw: build_multitask(_n, **kw), info)


_register()
