"""HRNetV2 + OCR (object-contextual representations), the official ``seg_hrnet_ocr`` model.

Yuan, Chen, Wang, "Object-Contextual Representations for Semantic Segmentation" (ECCV 2020),
as HRNet/HRNet-Semantic-Segmentation (branch HRNet-OCR) builds it on the V2 representation:

1. an auxiliary head (1x1 conv, norm, ReLU, 1x1 conv) predicts soft object regions (class logits);
2. ``conv3x3_ocr`` reduces V2 to 512 channels; the region logits, softmaxed over the pixels,
   pool these features into one descriptor per class (the spatial gather);
3. every pixel attends to the class descriptors (key 256 channels), and the attended context is
   concatenated with the pixel feature and fused by a 1x1 conv (``ocr_distri_head``);
4. ``cls_head`` (1x1 conv) gives the final logits.

The module names follow the official state dict, so official checkpoints load as they are. In
training mode the model returns ``[logits, aux_logits]`` (the official loss weights them 1 and
0.4); in eval mode only the logits. Both at stride 4.

``align_corners`` defaults to True: the official OCR code runs with ``MODEL.ALIGN_CORNERS: True``
(lib/config/default.py; its OCR configs do not change it), also when its checkpoints are loaded.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from hrseg.models.backbones.hrnet import build_hrnet, named_specs
from hrseg.models.layers import norm_factory
from hrseg.models.registry import ModelInfo, register_model
from hrseg.models.regularization import StageRegularization
from hrseg.models.representations import V2
from hrseg.models.segmentation import check_head_init, init_mmseg_head


def _norm_relu(channels: int, norm: str) -> nn.Sequential:
    """The official ``ModuleHelper.BNReLU`` (its keys are ``<i>.0.*``)."""
    return nn.Sequential(norm_factory(norm)(channels), nn.ReLU(inplace=True))


class ObjectAttentionBlock(nn.Module):
    """Pixels (queries) attend to the class descriptors (keys and values); scale 1, as used."""

    def __init__(self, in_channels: int, key_channels: int, norm: str = "BN") -> None:
        super().__init__()
        self.key_channels = key_channels

        def project(cin: int, cout: int, depth: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for i in range(depth):
                layers += [nn.Conv2d(cin if i == 0 else cout, cout, 1, bias=False), _norm_relu(cout, norm)]
            return nn.Sequential(*layers)

        self.f_pixel = project(in_channels, key_channels, 2)
        self.f_object = project(in_channels, key_channels, 2)
        self.f_down = project(in_channels, key_channels, 1)
        self.f_up = project(key_channels, in_channels, 1)

    def forward(self, x: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        query = self.f_pixel(x).flatten(2).transpose(1, 2)  # B, HW, Ck
        key = self.f_object(proxy).flatten(2)  # B, Ck, K
        value = self.f_down(proxy).flatten(2).transpose(1, 2)  # B, K, Ck
        sim = torch.softmax(torch.matmul(query, key) * self.key_channels ** -0.5, dim=-1)
        # sizes read with .size() so that torch.fx can trace it (hrseg.optimize_for_inference)
        context = torch.matmul(sim, value).transpose(1, 2).reshape(x.size(0), -1, x.size(2), x.size(3))
        return self.f_up(context)


class SpatialOCR(nn.Module):
    """Object context for every pixel, concatenated with the pixel feature, fused by 1x1 conv."""

    def __init__(self, in_channels: int, key_channels: int, out_channels: int, dropout: float = 0.05,
                 norm: str = "BN") -> None:
        super().__init__()
        self.object_context_block = ObjectAttentionBlock(in_channels, key_channels, norm)
        self.conv_bn_dropout = nn.Sequential(
            nn.Conv2d(2 * in_channels, out_channels, 1, bias=False),
            _norm_relu(out_channels, norm),
            nn.Dropout2d(dropout),
        )

    def forward(self, feats: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        context = self.object_context_block(feats, proxy)
        return self.conv_bn_dropout(torch.cat([context, feats], 1))


def spatial_gather(feats: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """One descriptor per class: features averaged with the class's softmax over the pixels.
    ``(B, C, H, W), (B, K, H, W) -> (B, C, K, 1)``."""
    probs = torch.softmax(logits.flatten(2), dim=2)  # B, K, HW
    context = torch.matmul(probs, feats.flatten(2).transpose(1, 2))  # B, K, C
    return context.transpose(1, 2).unsqueeze(3)


class OCRHead(nn.Module):
    """The official OCR head over V2 features (mid 512, key 256 channels)."""

    def __init__(self, in_channels: int, num_classes: int, mid_channels: int = 512, key_channels: int = 256,
                 dropout: float = 0.05, norm: str = "BN", init: str = "official") -> None:
        super().__init__()
        check_head_init(init)
        self.conv3x3_ocr = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 3, padding=1),
            norm_factory(norm)(mid_channels),
            nn.ReLU(inplace=True),
        )
        self.ocr_distri_head = SpatialOCR(mid_channels, key_channels, mid_channels, dropout, norm)
        self.cls_head = nn.Conv2d(mid_channels, num_classes, 1)
        self.aux_head = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1),
            norm_factory(norm)(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, num_classes, 1),
        )
        # "official": PyTorch's default initialisation on purpose: the official init_weights skips every
        # module whose name holds 'cls', 'aux' or 'ocr' (lib/models/seg_hrnet_ocr.py), i.e. this head.
        if init == "mmseg":  # OCRHead's and the auxiliary FCNHead's ConvModules, their conv_seg N(0, 0.01)
            init_mmseg_head(self, [self.cls_head, self.aux_head[3]])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        aux = self.aux_head(x)
        feats = self.conv3x3_ocr(x)
        feats = self.ocr_distri_head(feats, spatial_gather(feats, aux))
        return self.cls_head(feats), aux


class OCRSegmentationModel(StageRegularization, nn.Module):
    """Image in, class logits at stride 4 out; training mode adds the auxiliary logits."""

    # Official HRNet-OCR checkpoints: backbone keys at the top level, the head's modules beside them.
    checkpoint_aliases: ClassVar[dict[str, str]] = {
        **{f"{m}.": f"head.{m}." for m in ("conv3x3_ocr", "ocr_distri_head", "cls_head", "aux_head")},
        "": "backbone.",
    }
    # The official loss weights (LOSS.BALANCE_WEIGHTS [0.4, 1] for [aux, main]), in output order.
    output_weights: ClassVar[tuple[float, ...]] = (1.0, 0.4)

    def __init__(self, backbone: nn.Module, num_classes: int = 19, align_corners: bool = True,
                 norm: str = "BN", mid_channels: int = 512, key_channels: int = 256,
                 dropout: float = 0.05, head_init: str = "official") -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = V2(backbone.out_channels, align_corners)
        self.head = OCRHead(self.neck.out_channels, num_classes, mid_channels, key_channels, dropout, norm, head_init)
        self.num_classes = num_classes
        self.align_corners = align_corners
        self.out_stride = self.neck.out_stride

    def forward(self, images: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        logits, aux = self.head(self.neck(self.backbone(images)))
        if self.training:
            return [logits, aux]
        return logits


def _ocr_factory(backbone_name: str):
    def build(num_classes: int = 19, align_corners: bool = True, norm: str = "BN", mid_channels: int = 512,
              key_channels: int = 256, dropout: float = 0.05, head_init: str = "official",
              **backbone_options: Any) -> OCRSegmentationModel:
        options = dict(upsample="bilinear", align_corners=align_corners, norm=norm) | backbone_options
        return OCRSegmentationModel(build_hrnet(backbone_name, **options), num_classes, align_corners, norm,
                                    mid_channels, key_channels, dropout, head_init)

    return build


for _name in named_specs():
    register_model(f"seg_{_name.replace('hrnet_', 'hrnetv2_ocr_')}", _ocr_factory(_name), ModelInfo("seg", (1024, 2048), "cityscapes"))
