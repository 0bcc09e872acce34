"""Semantic segmentation: HRNet (V2 representation) + 1x1 conv, norm, ReLU, 1x1 conv to classes.

Logits come out at stride 4; inference resizes them to the input size.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from hrseg.errors import ConfigError
from hrseg.models.backbones.hrnet import build_hrnet, named_specs
from hrseg.models.layers import norm_factory
from hrseg.models.registry import ModelInfo, register_model
from hrseg.models.regularization import StageRegularization
from hrseg.models.representations import V2


HEAD_INIT_STD = 0.001  # official seg_hrnet.py / seg_hrnet_ocr.py init_weights: conv weights ~ N(0, 0.001)
HEAD_INITS = ("official", "mmseg")  # model.head_init: whose initialisation the head gets (SegHead)


def init_head(module: nn.Module, std: float = HEAD_INIT_STD) -> None:
    """The official initialisation of what the ImageNet weights do not cover: every conv weight
    drawn from N(0, std), BatchNorm weight 1 and bias 0 (conv biases keep PyTorch's default)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=std)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def class_indices(scores: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The index of the highest score along ``dim`` (the first on ties, as ``argmax``). Through
    ``max(dim).indices``: on the CPU, torch's ``argmax`` over the class dimension of a (K, H, W) map
    takes about 17 times as long (docs/multitask.md, "End to end")."""
    return scores.max(dim).indices


def init_mmseg_head(head: nn.Module, conv_segs: Sequence[nn.Conv2d]) -> None:
    """mmsegmentation's decode-head initialisation: every conv its ConvModule's ``kaiming_init`` (normal, fan_out,
    ReLU), every norm 1 / 0, the class convs ``conv_segs`` N(0, 0.01); zero biases. mmsegmentation's ConvModules
    have no bias (a norm follows); these are zero, and stay so: the norm cancels their gradient."""
    for m in head.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
            nn.init.ones_(m.weight)
        if isinstance(m, (nn.Conv2d, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and m.bias is not None:
            nn.init.zeros_(m.bias)
    for conv in conv_segs:
        nn.init.normal_(conv.weight, std=0.01)


def check_head_init(init: str) -> None:
    if init not in HEAD_INITS:
        raise ConfigError(f"model.head_init: {init!r} is not one of {', '.join(HEAD_INITS)}")


class SegHead(nn.Module):
    """The official ``last_layer``: conv1x1 (C->C), norm, ReLU, conv1x1 (C->classes); ``init``: the official
    code's initialisation or mmsegmentation's (:data:`HEAD_INITS`)."""

    def __init__(self, in_channels: int, num_classes: int, norm: str = "BN", init: str = "official") -> None:
        super().__init__()
        check_head_init(init)
        self.last_layer = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1),
            norm_factory(norm)(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, num_classes, 1),
        )
        if init == "official":
            init_head(self)
        else:
            init_mmseg_head(self, [self.last_layer[3]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(x)


class SegmentationModel(StageRegularization, nn.Module):
    """Image in, class logits at stride 4 out: ``(B, 3, H, W) -> (B, K, H/4, W/4)``."""

    # Official HRNet-Semantic-Segmentation checkpoints: backbone keys at the top, head last_layer.
    checkpoint_aliases: ClassVar[dict[str, str]] = {"last_layer.": "head.last_layer.", "": "backbone."}

    def __init__(self, backbone: nn.Module, num_classes: int = 19, align_corners: bool = False,
                 norm: str = "BN", head_init: str = "official") -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = V2(backbone.out_channels, align_corners)
        self.head = SegHead(self.neck.out_channels, num_classes, norm, head_init)
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.out_stride = self.neck.out_stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(images)))


def _seg_factory(backbone_name: str):
    def build(num_classes: int = 19, align_corners: bool = False, norm: str = "BN", head_init: str = "official",
              **backbone_options: Any) -> SegmentationModel:
        options = dict(upsample="bilinear", align_corners=align_corners, norm=norm) | backbone_options
        return SegmentationModel(build_hrnet(backbone_name, **options), num_classes, align_corners, norm, head_init)

    return build


for _name in named_specs():
    register_model(f"seg_{_name.replace('hrnet_', 'hrnetv2_')}", _seg_factory(_name), ModelInfo("seg", (1024, 2048), "cityscapes"))
