"""mmdetection's FCOS head and its test-time decoding, for mmdetection's published HRNetV2p FCOS files.

torchvision's FCOS (hrseg's ``det_fcos`` default) and mmdetection's share the idea, not the numbers
(``reference/openmmlab_meta.json``; mmdetection's ``FCOSHead`` as its
``configs/hrnet/fcos_hrnetv2p_w32_gn-head_4x4_1x_coco.py`` sets it):

- towers: 4 x (3x3 conv without bias, GroupNorm(32), ReLU) per branch, as torchvision's but
  without the conv bias; the centerness conv reads the classification tower (``centerness_on_reg=False``);
- classes: 80 sigmoid outputs, no background (hrseg's labels are those + 1, as its other detectors');
- boxes: the distances (left, top, right, bottom) in pixels are ``exp(scale_l * x)``, one learnable
  ``scale`` per level (``norm_on_bbox=False``), from points at ``(i + 0.5) * stride``;
- test (mmdetection 2.x, which measured the published APs: ``FCOSHead._get_bboxes_single`` and
  ``multiclass_nms``; test_cfg ``nms_pre`` 1000, ``score_thr`` 0.05, NMS IoU 0.5, ``max_per_img`` 100):
  per level the ``nms_pre`` points of the highest sigmoid score times sigmoid centerness, boxes clipped
  to the image; then every (point, class) whose score times centerness is above ``score_thr``,
  class-wise NMS, the ``max_per_img`` best. mmdetection does this in the original image's pixels,
  hrseg in the network input's, then scales the boxes (torchvision's transform): the same up to
  the rounding of the two axes' scale factors.

- training (mmdetection 2.x ``FCOSHead.loss``; ``center_sampling`` False): a point is positive for the
  smallest ground-truth box that contains it strictly and whose largest distance from it lies in the
  level's range (-1-64, 64-128, 128-256, 256-512, 512-inf); focal loss (alpha 0.25, gamma 2) over every
  point and class divided by the positives + the images; on the positives the IoU loss (``-log IoU``,
  IoU clamped at 1e-6) of the decoded boxes weighted by the centerness target
  ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` and divided by its sum, and the centerness
  logits' binary cross-entropy against it, averaged (:func:`fcos_losses`).

:func:`decode_detections` is that test for one image; :class:`hrseg.models.detection.MMDetFCOS` runs it
as the model's ``postprocess_detections`` and :func:`fcos_losses` as its ``compute_loss``. mmdetection
feeds these files BGR images: the loader reverses the first convolution's input channels instead (exact:
hrseg's RGB normalisation is the same numbers in the other order), so the model takes RGB as every hrseg
model.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import sigmoid_focal_loss

from hrseg.models.mmdet_nms import multiclass_nms

__all__ = ["ConvGN", "MMDetFCOSHead", "REGRESS_RANGES", "Scale", "decode_detections", "fcos_losses", "fcos_targets"]

# mmdetection FCOSHead's regress_ranges: the largest distance a level's positive points reach
REGRESS_RANGES = ((-1.0, 64.0), (64.0, 128.0), (128.0, 256.0), (256.0, 512.0), (512.0, 1e8))


class ConvGN(nn.Module):
    """mmcv's ``ConvModule(conv 3x3 without bias, GroupNorm, ReLU)``: keys ``conv.weight``, ``gn.weight``."""

    def __init__(self, channels: int, groups: int = 32) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(groups, channels)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.gn(self.conv(x)))


class Scale(nn.Module):
    """A learnable scalar factor (mmcv's ``Scale``)."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def _flat(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, H * W, C), row after row: torchvision's and mmdetection's order of points."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])


class MMDetFCOSHead(nn.Module):
    """mmdetection's ``FCOSHead`` (module docstring) with its parameter names, giving torchvision's FCOS
    head outputs: ``cls_logits`` (N, points, classes), ``bbox_regression`` (N, points, 4: the decoded
    distances in pixels) and ``bbox_ctrness`` (N, points, 1)."""

    def __init__(self, in_channels: int, num_classes: int, num_convs: int = 4, num_levels: int = 5) -> None:
        super().__init__()
        self.cls_convs = nn.ModuleList(ConvGN(in_channels) for _ in range(num_convs))
        self.reg_convs = nn.ModuleList(ConvGN(in_channels) for _ in range(num_convs))
        self.conv_cls = nn.Conv2d(in_channels, num_classes, 3, padding=1)
        self.conv_reg = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.conv_centerness = nn.Conv2d(in_channels, 1, 3, padding=1)
        self.scales = nn.ModuleList(Scale() for _ in range(num_levels))
        for conv in (self.conv_cls, self.conv_reg, self.conv_centerness):  # mmdetection's init
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        for tower in (*self.cls_convs, *self.reg_convs):
            nn.init.normal_(tower.conv.weight, std=0.01)
        nn.init.constant_(self.conv_cls.bias, -math.log((1 - 0.01) / 0.01))

    def forward(self, features: list[Tensor]) -> dict[str, Tensor]:
        cls_logits, distances, centerness = [], [], []
        for scale, x in zip(self.scales, features):
            cls_feat, reg_feat = x, x
            for conv in self.cls_convs:
                cls_feat = conv(cls_feat)
            for conv in self.reg_convs:
                reg_feat = conv(reg_feat)
            cls_logits.append(_flat(self.conv_cls(cls_feat)))
            centerness.append(_flat(self.conv_centerness(cls_feat)))
            distances.append(_flat(scale(self.conv_reg(reg_feat)).float().exp()))
        return {"cls_logits": torch.cat(cls_logits, 1), "bbox_regression": torch.cat(distances, 1),
                "bbox_ctrness": torch.cat(centerness, 1)}


def decode_detections(cls_logits: list[Tensor], distances: list[Tensor], centerness: list[Tensor],
                      points: list[Tensor], image_size: tuple[int, int], score_thresh: float = 0.05,
                      nms_pre: int = 1000, nms_thresh: float = 0.5, max_per_img: int = 100
                      ) -> dict[str, Tensor]:
    """One image's detections from its per-level outputs (``cls_logits`` (P, C), ``distances`` (P, 4),
    ``centerness`` (P, 1)) and ``points`` (P, 2), as mmdetection's test (module docstring); ``image_size``
    (H, W) clips the boxes. Labels count from 0 (mmdetection's); scores are sorted, highest first."""
    height, width = image_size
    boxes_all, scores_all, factors_all = [], [], []
    for logits, dist, ctr, pts in zip(cls_logits, distances, centerness, points):
        scores, factors = logits.sigmoid(), ctr[:, 0].sigmoid()
        if 0 < nms_pre < scores.shape[0]:
            top = (scores * factors[:, None]).max(dim=1).values.topk(nms_pre).indices
            scores, factors, dist, pts = scores[top], factors[top], dist[top], pts[top]
        x, y = pts[:, 0], pts[:, 1]  # distance2bbox with max_shape
        boxes_all.append(torch.stack([(x - dist[:, 0]).clamp(0, width), (y - dist[:, 1]).clamp(0, height),
                                      (x + dist[:, 2]).clamp(0, width), (y + dist[:, 3]).clamp(0, height)], dim=-1))
        scores_all.append(scores)
        factors_all.append(factors)
    scores = torch.cat(scores_all) * torch.cat(factors_all)[:, None]  # multiclass_nms's score_factors
    return multiclass_nms(torch.cat(boxes_all), scores, score_thresh, nms_thresh, max_per_img)


def fcos_targets(points: Tensor, ranges: Tensor, boxes: Tensor, labels: Tensor, background: int
                 ) -> tuple[Tensor, Tensor]:
    """One image's targets at ``points`` (P, 2) with their level's ``ranges`` (P, 2): the class of each
    point (``background`` where none) and its distances (left, top, right, bottom) to the box it is
    assigned (module docstring; ``boxes`` (G, 4) in the input's pixels, ``labels`` (G,) from 0)."""
    if len(boxes) == 0:
        return labels.new_full((len(points),), background), points.new_zeros((len(points), 4))
    x, y = points[:, 0, None], points[:, 1, None]
    distances = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], dim=-1)  # P, G, 4
    reach = distances.max(-1).values
    fits = (distances.min(-1).values > 0) & (reach >= ranges[:, :1]) & (reach <= ranges[:, 1:])
    areas = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand_as(reach)
    smallest, which = torch.where(fits, areas, torch.full_like(areas, float("inf"))).min(dim=1)
    classes = torch.where(torch.isinf(smallest), torch.full_like(which, background), labels[which])
    return classes, distances[torch.arange(len(points), device=points.device), which]


def _boxes(points: Tensor, distances: Tensor) -> Tensor:
    return torch.cat([points - distances[:, :2], points + distances[:, 2:]], dim=1)


def _aligned_iou(a: Tensor, b: Tensor) -> Tensor:
    wh = (torch.min(a[:, 2:], b[:, 2:]) - torch.max(a[:, :2], b[:, :2])).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - overlap
    return overlap / union.clamp(min=1e-6)


def fcos_losses(cls_logits: Tensor, distances: Tensor, centerness: Tensor, points: Tensor, ranges: Tensor,
                boxes: list[Tensor], labels: list[Tensor]) -> dict[str, Tensor]:
    """mmdetection 2.x's FCOS losses (module docstring) of a batch: ``cls_logits`` (N, P, C), ``distances``
    (N, P, 4, in pixels), ``centerness`` (N, P, 1) at ``points`` (P, 2) with their ``ranges`` (P, 2); per
    image the ground-truth ``boxes`` and ``labels`` (from 0). Named as torchvision's FCOS losses."""
    num_images, _, num_classes = cls_logits.shape
    targets = [fcos_targets(points, ranges, b, lab, num_classes) for b, lab in zip(boxes, labels)]
    classes = torch.cat([c for c, _ in targets])
    positive = torch.where(classes < num_classes)[0]
    one_hot = torch.zeros_like(cls_logits.reshape(-1, num_classes), dtype=torch.float32)
    one_hot[positive, classes[positive]] = 1.0
    loss_cls = sigmoid_focal_loss(cls_logits.reshape(-1, num_classes).float(), one_hot, alpha=0.25, gamma=2.0,
                                  reduction="sum") / (len(positive) + num_images)
    pred = distances.reshape(-1, 4)[positive]
    ctr_logits = centerness.reshape(-1)[positive].float()
    if len(positive) == 0:
        return {"classification": loss_cls, "bbox_regression": pred.sum(), "bbox_ctrness": ctr_logits.sum()}
    target = torch.cat([d for _, d in targets])[positive]
    left_right, top_bottom = target[:, [0, 2]], target[:, [1, 3]]
    ctr_target = torch.sqrt(left_right.min(-1).values / left_right.max(-1).values
                            * top_bottom.min(-1).values / top_bottom.max(-1).values)
    at = points.repeat(num_images, 1)[positive]
    iou = _aligned_iou(_boxes(at, pred.float()), _boxes(at, target)).clamp(min=1e-6)
    loss_box = (-iou.log() * ctr_target).sum() / ctr_target.sum()
    loss_ctr = F.binary_cross_entropy_with_logits(ctr_logits, ctr_target)
    return {"classification": loss_cls, "bbox_regression": loss_box, "bbox_ctrness": loss_ctr}
