"""HRNetV2p: the backbone with the V2p pyramid, the neck of the detection models."""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from hrseg.models.backbones.hrnet import build_hrnet, named_specs
from hrseg.models.registry import ModelInfo, register_model
from hrseg.models.representations import V2p


class HRNetV2p(nn.Module):
    """Image in, five 256-channel maps at strides 4, 8, 16, 32, 64 out."""

    checkpoint_aliases: ClassVar[dict[str, str]] = {"": "backbone."}

    def __init__(self, backbone: nn.Module, out_channels: int = 256, num_levels: int = 5) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = V2p(backbone.out_channels, out_channels, num_levels)
        self.out_channels = out_channels
        self.out_strides = self.neck.out_strides

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.neck(self.backbone(images))


def _pyramid_factory(backbone_name: str):
    def build(out_channels: int = 256, num_levels: int = 5, **backbone_options: Any) -> HRNetV2p:
        return HRNetV2p(build_hrnet(backbone_name, **backbone_options), out_channels, num_levels)

    return build


for _name in named_specs():
    register_model(_name.replace("hrnet_", "hrnetv2p_"), _pyramid_factory(_name), ModelInfo("neck", (800, 1333), "coco"))
