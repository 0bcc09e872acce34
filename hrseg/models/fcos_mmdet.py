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

:func:`decode_detections` is that test for one image; :class:`hrseg.models.detection.MMDetFCOS` runs it
as the model's ``postprocess_detections``. mmdetection feeds these files BGR images: the loader reverses
the first convolution's input channels instead (exact: hrseg's RGB normalisation is the same numbers in
the other order), so the model takes RGB as every hrseg model.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hrseg.models.mmdet_nms import multiclass_nms

__all__ = ["ConvGN", "MMDetFCOSHead", "Scale", "decode_detections"]


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
