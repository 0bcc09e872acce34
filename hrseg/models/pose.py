"""Top-down pose: HRNet (V1 representation) + a 1x1 conv to one heatmap per joint at stride 4 (three
per joint for UDP's combined maps, ``maps_per_joint=3``: :mod:`hrseg.codecs.combined`)."""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from hrseg.models.backbones.hrnet import build_hrnet, named_specs
from hrseg.models.registry import ModelInfo, register_model
from hrseg.models.regularization import StageRegularization
from hrseg.models.representations import V1


class HeatmapHead(nn.Module):
    """1x1 conv from the representation to ``num_joints`` heatmaps (official ``final_layer``)."""

    def __init__(self, in_channels: int, num_joints: int = 17) -> None:
        super().__init__()
        self.final_layer = nn.Conv2d(in_channels, num_joints, 1)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(x)


class TopDownPoseModel(StageRegularization, nn.Module):
    """Person crop in, heatmaps out: ``(B, 3, H, W) -> (B, J * maps_per_joint, H/4, W/4)``."""

    # Official pose checkpoints hold backbone keys at the top level and the head as final_layer.
    checkpoint_aliases: ClassVar[dict[str, str]] = {"final_layer.": "head.final_layer.", "": "backbone."}

    def __init__(self, backbone: nn.Module, num_joints: int = 17, maps_per_joint: int = 1) -> None:
        super().__init__()
        if maps_per_joint not in (1, 3):
            raise ValueError(f"maps_per_joint: 1 (heatmaps) or 3 (UDP's combined maps), got {maps_per_joint!r}")
        self.backbone = backbone
        self.neck = V1(backbone.out_channels)
        self.head = HeatmapHead(self.neck.out_channels, num_joints * maps_per_joint)
        self.num_joints, self.maps_per_joint = num_joints, maps_per_joint
        self.out_stride = self.neck.out_stride

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(images)))


def _pose_factory(backbone_name: str):
    def build(num_joints: int = 17, maps_per_joint: int = 1, **backbone_options: Any) -> TopDownPoseModel:
        options = dict(upsample="nearest", final_fusion="highest") | backbone_options
        return TopDownPoseModel(build_hrnet(backbone_name, **options), num_joints, maps_per_joint)

    return build


for _name in named_specs():
    register_model(f"pose_{_name}", _pose_factory(_name), ModelInfo("pose", (256, 192), "coco_person"))
