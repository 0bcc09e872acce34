"""Object detection on HRNetV2p: torchvision's Faster R-CNN and FCOS with the V2p pyramid as neck.

The settings are those of the official HRNet detection configs (HRNet/HRNet-Object-Detection,
mmdetection ``configs/hrnet/faster_rcnn_hrnetv2p_w32_1x_coco.py`` and
``fcos_hrnetv2p_w32_gn-head_4x4_1x_coco.py``):

- Faster R-CNN: V2p levels at strides 4, 8, 16, 32, 64; one anchor size per level, 8 x stride
  (32 ... 512), aspect ratios 0.5 / 1 / 2; RoIAlign 7x7, sampling ratio 2, over the stride 4-32
  levels (torchvision's level mapper, canonical 224 px at stride 16, picks the same level as
  mmdetection's ``finest_scale=56``); two 1024-d FC layers; class-specific box regression with
  (10, 10, 5, 5) weights (mmdetection's target stds 0.1 / 0.2); RPN and RoI sampling (256 at
  1:1, 512 at 1:3), IoU thresholds (0.7 / 0.3, 0.5), training proposals (2000 / 2000, NMS 0.7) and
  test thresholds (score 0.05, NMS 0.5, 100 per image) are torchvision's defaults, which equal
  the official ones; the test proposals are set here to the official 2000 per level before NMS
  and 2000 after (HRNet-Object-Detection test_cfg; torchvision's default is 1000 / 1000; the
  published mmdetection files keep mmdetection's 1000 / 1000, set as they load:
  :func:`hrseg.weights.mmdet.apply_conventions`). The RoI box loss is smooth L1 with
  ``box_loss_beta``: torchvision's 1/9 by default, the official configs' 1.0 in hrseg's recipes
  (both use 1/9 in the RPN).
- FCOS: the same pyramid with its 3x3 level convs at stride 2 (mmdetection's ``HRFPN(stride=2)``),
  so the levels are at strides 8 ... 128; torchvision's FCOS head (4 GroupNorm convs per branch);
  1000 candidates per level, score threshold 0.05, NMS 0.5 and 100 per image as the official
  test config. Differences: torchvision's FCOS head samples positives near the box centres
  (radius 1.5), regresses with a GIoU loss and puts centerness on the regression branch;
  mmdetection's HRNet FCOS config uses neither centre sampling nor GIoU and puts centerness on
  the classification branch. ``head_type="mmdetection"`` builds mmdetection's head, test and losses
  instead (:class:`MMDetFCOS`, :mod:`hrseg.models.fcos_mmdet`), for its published files and its recipe.

Labels are contiguous, 1..K, with 0 the background (torchvision's convention): ``num_classes``
is K + 1, 81 for COCO. Images are padded to a multiple of the coarsest stride, so every level's
stride is exact (torchvision derives the anchor strides from the feature map sizes).
"""
from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
import reprlib
from collections import OrderedDict
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

import torch
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.fcos import FCOSHead
from torchvision.ops import MultiScaleRoIAlign

from hrseg.checkpoint import DETECTOR_HRNET, DETECTOR_NECK, LoadReport, extract_state_dict, load_state, read_checkpoint
from hrseg.errors import CheckpointError, ConfigError
from hrseg.models.backbones.hrnet import build_hrnet, named_specs
from hrseg.models.fcos_mmdet import REGRESS_RANGES, MMDetFCOSHead, decode_detections, fcos_losses
from hrseg.models.mmdet_conventions import use_mmdet_conventions
from hrseg.models.pyramid import HRNetV2p
from hrseg.models.rcnn_heads import MASK_TARGETS, TORCHVISION_BOX_BETA, RCNNRoIHeads
from hrseg.models.registry import ModelInfo, model_info, register_model

# Where the parts of a pretrained model go in a detector: a bare HRNet (ImageNet file), the
# backbone of a pose / segmentation / HRNetV2p checkpoint, the V2p neck of an HRNetV2p one.
DETECTOR_ALIASES: dict[str, str] = {"backbone.": DETECTOR_HRNET, "neck.": DETECTOR_NECK, "": DETECTOR_HRNET}
# HRNet-Object-Detection configs/hrnet/faster_rcnn_hrnetv2p_w*_1x.py test_cfg.rpn: nms_pre 2000
# (per level), max_num 2000.
OFFICIAL_RPN_TEST: dict[str, int] = dict(rpn_pre_nms_top_n_test=2000, rpn_post_nms_top_n_test=2000)


# -- the options each detector takes ----------------------------------------------------------
def _real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _whole(v: Any) -> bool:
    """A whole number >= 1 (not a bool, not 2.0: counts are not rounded)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1


def _several(v: Any, n: int, item: Callable[[Any], bool]) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == n and all(item(x) for x in v)


# What a value of each kind must be, and the words that say so.
OPTION_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "fraction": (lambda v: _real(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "count": (_whole, "a whole number >= 1"),
    "sizes": (lambda v: _whole(v) or (isinstance(v, (list, tuple)) and len(v) > 0 and all(map(_whole, v))),
              "a whole number >= 1 or a list of them"),
    "positive": (lambda v: _real(v) and v > 0, "a number > 0"),
    "nonnegative": (lambda v: _real(v) and v >= 0, "a number >= 0"),
    "mean": (lambda v: v is None or _several(v, 3, _real), "None or three numbers"),
    "std": (lambda v: v is None or _several(v, 3, lambda x: _real(x) and x > 0), "None or three numbers > 0"),
    "box_weights": (lambda v: v is None or _several(v, 4, lambda x: _real(x) and x > 0), "None or four numbers > 0"),
    "hw": (lambda v: v is None or _several(v, 2, _whole), "None or two whole numbers >= 1"),
}
# torchvision's GeneralizedRCNNTransform options (every detector's image batching)
_TRANSFORM_OPTIONS: dict[str, str] = {"image_mean": "mean", "image_std": "std", "size_divisible": "count",
                                      "fixed_size": "hw"}
# The options Faster R-CNN (Mask R-CNN, the multi-task model) passes on to torchvision, and their kinds.
RCNN_OPTIONS: dict[str, str] = {
    **_TRANSFORM_OPTIONS,
    **{f"rpn_{when}_nms_top_n_{split}": "count" for when in ("pre", "post") for split in ("train", "test")},
    **{f"rpn_{k}": "fraction" for k in ("nms_thresh", "fg_iou_thresh", "bg_iou_thresh", "positive_fraction",
                                        "score_thresh")},
    "rpn_batch_size_per_image": "count",
    **{f"box_{k}": "fraction" for k in ("score_thresh", "nms_thresh", "fg_iou_thresh", "bg_iou_thresh",
                                        "positive_fraction")},
    "box_detections_per_img": "count", "box_batch_size_per_image": "count", "bbox_reg_weights": "box_weights",
}
# The options FCOS passes on to torchvision.
FCOS_OPTIONS: dict[str, str] = {
    **_TRANSFORM_OPTIONS, "score_thresh": "fraction", "nms_thresh": "fraction", "detections_per_img": "count",
    "topk_candidates": "count", "center_sampling_radius": "nonnegative",
}
# The builders' own parameters whose values are checked as well (the others are checked where used).
BUILDER_KINDS: dict[str, str] = {
    "num_classes": "count", "min_size": "sizes", "max_size": "count", "out_channels": "count",
    "representation_size": "count", "anchor_scale": "positive", "num_convs": "count", "mask_channels": "count",
    "mask_roi_size": "count", "keypoint_channels": "count", "keypoint_roi_size": "count", "num_keypoints": "count",
    "box_loss_beta": "nonnegative",
}
# model name prefix (det_fasterrcnn, ...) -> the torchvision options and the builders whose parameters it takes
DETECTOR_OPTIONS: dict[str, tuple[Mapping[str, str], tuple[Callable[..., Any], ...]]] = {}
Builder = TypeVar("Builder", bound=Callable[..., nn.Module])


def registered_name(prefix: str, hrnet_name: str) -> str:
    """The registered name of the ``prefix`` model on HRNet ``hrnet_name``: det_fcos_hrnetv2p_w18, ..."""
    return f"{prefix}_{hrnet_name.replace('hrnet_', 'hrnetv2p_')}"


def known_options(prefix: str) -> list[str]:
    """Every option the ``prefix`` models take: torchvision's and their builders' parameters."""
    torchvision, builders = DETECTOR_OPTIONS[prefix]
    params = {p.name for b in builders for p in inspect.signature(b).parameters.values()
              if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "hrnet_name"}
    return sorted(params | set(torchvision))


def check_options(model: str, prefix: str, options: Mapping[str, Any]) -> None:
    """A :class:`ConfigError` naming ``model`` and the key for an option of ``options`` the ``prefix``
    models do not take (with the closest ones they do) or a value not of its kind (:data:`OPTION_KINDS`)."""
    torchvision = DETECTOR_OPTIONS[prefix][0]
    known = known_options(prefix)
    for key, value in options.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            if not close:  # a word of it: nms -> box_nms_thresh, rpn_nms_thresh, ...
                words = set(key.split("_"))
                close = sorted((k for k in known if words & set(k.split("_"))),
                               key=lambda k: -difflib.SequenceMatcher(None, key, k).ratio())[:3]
            hint = f"did you mean {', '.join(close)}?" if close else f"its options: {', '.join(known)}"
            raise ConfigError(f"{model}: unknown model option {key!r}; {hint}")
        kind = torchvision.get(key) or BUILDER_KINDS.get(key)
        if kind is not None and not OPTION_KINDS[kind][0](value):
            raise ConfigError(f"{model}: model option {key!r}: expected {OPTION_KINDS[kind][1]}, "
                              f"got {reprlib.repr(value)}")


def check_model_options(name: str, options: Mapping[str, Any]) -> None:
    """:func:`check_options` for a config's ``model`` section (``name``, ``weights`` and ``pretrained`` aside)
    without building the model; nothing for a model that is not a detector."""
    model_info(name)  # every builder module imported (an unknown name: its ConfigError)
    prefix = next((p for p in DETECTOR_OPTIONS if name.startswith(p + "_")), None)
    if prefix is not None:
        check_options(name, prefix, {k: v for k, v in options.items() if k not in ("name", "weights", "pretrained")})


def detector_options(prefix: str, torchvision: Mapping[str, str],
                     *also: Callable[..., Any]) -> Callable[[Builder], Builder]:
    """A builder of the ``prefix`` models whose arguments are checked (:func:`check_options`) before it
    runs: its parameters, those of the builders ``also`` its extra options go to, and ``torchvision``'s."""
    def wrap(builder: Builder) -> Builder:
        DETECTOR_OPTIONS[prefix] = (torchvision, (builder, *also))
        signature = inspect.signature(builder)

        @functools.wraps(builder)
        def checked(*args: Any, **kwargs: Any) -> nn.Module:
            given = signature.bind_partial(*args, **kwargs).arguments
            options = {k: v for k, v in given.items() if k != "hrnet_name"}
            for p in signature.parameters.values():
                if p.kind == p.VAR_KEYWORD:
                    options.update(options.pop(p.name, {}))
            check_options(registered_name(prefix, str(given.get("hrnet_name", ""))), prefix, options)
            return builder(*args, **kwargs)
        return checked  # type: ignore[return-value]
    return wrap


class PyramidBackbone(nn.Module):
    """HRNetV2p as a torchvision detection backbone: an ``OrderedDict`` of the levels, named
    ``p2``, ``p3``, ... after their stride (2**k), and ``out_channels``.

    ``norm_eval`` keeps the HRNet's BatchNorm layers in eval mode during training (their
    ImageNet statistics frozen, as mmdetection's ``norm_eval=True``): right with a pretrained
    backbone and 2 images per GPU, wrong when training from scratch.
    """

    def __init__(self, pyramid: HRNetV2p, norm_eval: bool = False) -> None:
        super().__init__()
        self.body = pyramid
        self.out_channels: int = pyramid.out_channels
        self.strides: list[int] = list(pyramid.out_strides)
        self.names: list[str] = [f"p{int(math.log2(s))}" for s in self.strides]
        self.norm_eval = norm_eval

    def forward(self, images: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return OrderedDict(zip(self.names, self.body(images)))

    def train(self, mode: bool = True) -> "PyramidBackbone":
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.body.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self


class HRNetFasterRCNN(FasterRCNN):
    """torchvision's Faster R-CNN on a :class:`PyramidBackbone`."""

    checkpoint_aliases: ClassVar[dict[str, str]] = DETECTOR_ALIASES


class HRNetFCOS(FCOS):
    """torchvision's FCOS on a :class:`PyramidBackbone` (levels at strides 8 ... 128)."""

    checkpoint_aliases: ClassVar[dict[str, str]] = DETECTOR_ALIASES


class MMDetFCOS(HRNetFCOS):
    """FCOS with mmdetection's head, test and training losses (:mod:`hrseg.models.fcos_mmdet`), for its
    published files and its recipe: the points are the anchors' centres moved by half a stride, the labels
    mmdetection's + 1."""

    def postprocess_detections(self, head_outputs: dict[str, list[torch.Tensor]], anchors: list[list[torch.Tensor]],
                               image_shapes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        out = []
        for i, (levels, size) in enumerate(zip(anchors, image_shapes)):
            found = decode_detections([x[i] for x in head_outputs["cls_logits"]],
                                      [x[i] for x in head_outputs["bbox_regression"]],
                                      [x[i] for x in head_outputs["bbox_ctrness"]], _points(levels), tuple(size),
                                      self.score_thresh, self.topk_candidates, self.nms_thresh,
                                      self.detections_per_img)
            out.append({**found, "labels": found["labels"] + 1})
        return out

    def compute_loss(self, targets: list[dict[str, torch.Tensor]], head_outputs: dict[str, torch.Tensor],
                     anchors: list[torch.Tensor], num_anchors_per_level: list[int]) -> dict[str, torch.Tensor]:
        points = _points(list(anchors[0].split(num_anchors_per_level)))  # every image's: the padded batch's grid
        ranges = torch.cat([points[0].new_tensor(r).expand(len(p), 2) for r, p in zip(REGRESS_RANGES, points,
                                                                                        strict=True)])
        return fcos_losses(head_outputs["cls_logits"], head_outputs["bbox_regression"], head_outputs["bbox_ctrness"],
                           torch.cat(points), ranges, [t["boxes"] for t in targets], [t["labels"] - 1 for t in targets])


def _points(levels: list[torch.Tensor]) -> list[torch.Tensor]:
    """mmdetection's FCOS points, ``(i + 0.5) * stride``, from torchvision's anchors (one a stride wide,
    centred on ``i * stride``) of each level."""
    return [(a[:, :2] + a[:, 2:]) / 2 + (a[0, 2] - a[0, 0]) / 2 for a in levels]


def build_pyramid_backbone(hrnet_name: str, out_channels: int = 256, level_stride: int = 1,
                           norm_eval: bool = False, backbone: Mapping[str, Any] | None = None
                           ) -> PyramidBackbone:
    """HRNet ``hrnet_name`` + V2p (5 levels) as a detection backbone. ``level_stride`` 2 runs
    the level convs at stride 2 (mmdetection's ``HRFPN(stride=2)``): strides 8 ... 128."""
    pyramid = HRNetV2p(build_hrnet(hrnet_name, **dict(backbone or {})), out_channels, num_levels=5)
    if level_stride != 1:
        for conv in pyramid.neck.level_convs:
            conv.stride = (level_stride, level_stride)
        pyramid.out_strides = [s * level_stride for s in pyramid.out_strides]
        pyramid.neck.out_strides = pyramid.out_strides
    return PyramidBackbone(pyramid, norm_eval)


@detector_options("det_fasterrcnn", RCNN_OPTIONS)
def build_faster_rcnn(hrnet_name: str, num_classes: int = 81, min_size: int | Sequence[int] = 800,
                      max_size: int = 1333, out_channels: int = 256, anchor_scale: float = 8,
                      aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0), representation_size: int = 1024,
                      sampling_ratio: int = 2, norm_eval: bool = False, box_loss_beta: float = TORCHVISION_BOX_BETA,
                      mmdet_conventions: bool = False, mask_targets: str | None = None,
                      backbone: Mapping[str, Any] | None = None, **detector_options: Any) -> HRNetFasterRCNN:
    """Faster R-CNN HRNetV2p. ``anchor_scale`` x stride is each level's anchor size (mmdetection's
    ``anchor_scales=[8]``); ``box_loss_beta``: the RoI box loss's smooth-L1 beta (torchvision's 1/9;
    the official configs' 1.0: :mod:`hrseg.models.rcnn_heads`); ``mmdet_conventions``: mmdetection 2.x's anchors
    and RoIAlign (:mod:`hrseg.models.mmdet_conventions`); ``mask_targets``: the mask branch's targets
    (:data:`~hrseg.models.rcnn_heads.MASK_TARGETS`; None: the conventions'); ``backbone``: HRNet options (``norm``);
    ``detector_options`` go to torchvision's ``FasterRCNN`` (:data:`RCNN_OPTIONS`: ``rpn_*``, ``box_*``, ...);
    any other key, or a value out of its range, is a :class:`ConfigError`."""
    body = build_pyramid_backbone(hrnet_name, out_channels, 1, norm_eval, backbone)
    anchors = AnchorGenerator(tuple((anchor_scale * s,) for s in body.strides),
                              (tuple(float(a) for a in aspect_ratios),) * len(body.strides))
    roi_pool = MultiScaleRoIAlign(featmap_names=body.names[:4], output_size=7, sampling_ratio=sampling_ratio)
    box_head = TwoMLPHead(out_channels * 7 * 7, representation_size)
    # Padded to the coarsest stride (64; mmdetection pads to 32), mmdetection's weights included: every
    # level of the V2p pyramid (HRFPN's average pooling down to stride 64) is then exact.
    options = dict(size_divisible=max(body.strides), **OFFICIAL_RPN_TEST) | detector_options
    model = HRNetFasterRCNN(body, None, min_size=_size(min_size), max_size=max_size,
                            rpn_anchor_generator=anchors, box_roi_pool=roi_pool, box_head=box_head,
                            box_predictor=FastRCNNPredictor(representation_size, num_classes), **options)
    model.roi_heads.__class__ = RCNNRoIHeads  # torchvision's, with the box loss's beta
    model.roi_heads.box_loss_beta = float(box_loss_beta)
    if mmdet_conventions:
        use_mmdet_conventions(model)
    if mask_targets is not None:
        if mask_targets not in MASK_TARGETS:
            raise ConfigError(f"model.mask_targets is {mask_targets!r}; one of {', '.join(MASK_TARGETS)}")
        model.roi_heads.mask_target_kind = mask_targets
    return model


@detector_options("det_fcos", FCOS_OPTIONS)
def build_fcos(hrnet_name: str, num_classes: int = 81, min_size: int | Sequence[int] = 800,
               max_size: int = 1333, out_channels: int = 256, num_convs: int = 4, norm_eval: bool = False,
               backbone: Mapping[str, Any] | None = None, head_type: str = "torchvision",
               **detector_options: Any) -> HRNetFCOS:
    """FCOS HRNetV2p; ``head_type`` "torchvision" or "mmdetection" (its head, test and losses: its published
    files and recipe, :class:`MMDetFCOS`); ``detector_options`` go to torchvision's ``FCOS`` (:data:`FCOS_OPTIONS`:
    ``score_thresh``, ...); any other key, or a value out of its range, is a :class:`ConfigError`."""
    if head_type not in ("torchvision", "mmdetection"):
        raise ConfigError(f"det_fcos: head_type is 'torchvision' or 'mmdetection', not {head_type!r}")
    body = build_pyramid_backbone(hrnet_name, out_channels, 2, norm_eval, backbone)
    # One "anchor" per location whose size is the stride: torchvision's FCOS takes the object
    # size ranges of the levels as 4x and 8x that size (0-64, 64-128, ... 512-inf at 8...128).
    anchors = AnchorGenerator(tuple((s,) for s in body.strides), ((1.0,),) * len(body.strides))
    options = dict(size_divisible=max(body.strides), score_thresh=0.05, nms_thresh=0.5) | detector_options
    if head_type == "mmdetection":  # 80 sigmoid classes, no background output
        if "center_sampling_radius" in detector_options:
            raise ConfigError("det_fcos: center_sampling_radius is torchvision's head's; mmdetection's samples none")
        head = MMDetFCOSHead(out_channels, num_classes - 1, num_convs, len(body.strides))
        return MMDetFCOS(body, num_classes, min_size=_size(min_size), max_size=max_size, anchor_generator=anchors,
                         head=head, **options)
    return HRNetFCOS(body, num_classes, min_size=_size(min_size), max_size=max_size, anchor_generator=anchors,
                     head=FCOSHead(out_channels, 1, num_classes, num_convs), **options)


def detection_settings(model: nn.Module) -> nn.Module:
    """The module holding a detector's test settings (``score_thresh``, ``nms_thresh``,
    ``detections_per_img``): an R-CNN's ``roi_heads``, FCOS itself."""
    return getattr(model, "roi_heads", model)


def _size(min_size: int | Sequence[int]) -> int | tuple[int, ...]:
    """torchvision takes a tuple of shorter sides for multi-scale training (one drawn per batch)."""
    return int(min_size) if isinstance(min_size, (int, float)) else tuple(int(s) for s in min_size)


def load_pretrained_backbone(model: nn.Module, path: str, require_all: bool = False) -> LoadReport:
    """Fill a detector's HRNet (and V2p neck, when the file has one) from an ImageNet, pose,
    segmentation, HRNetV2p or detection checkpoint; the rest keeps its initial values.

    Raises :class:`CheckpointError` naming the file when a shape differs (e.g. W18 weights for a
    W32 detector) or an HRNet key is missing (another variant of the same widths, a file cut
    short), except the last module's low-resolution fusion layers when the file has none of them:
    a pose checkpoint does not compute them, and they keep their initial values, named in the
    report; with ``require_all`` those too. The rules are :func:`hrseg.checkpoint.load_state`'s for a
    backbone-only source, whose HRNet it finds at ``backbone.body.backbone.``.
    """
    report = load_state(model, extract_state_dict(read_checkpoint(path), path), path, backbone_only=True)
    fusion = [k for k in report.not_loaded if k.startswith(DETECTOR_HRNET)]  # what load_state allowed a pose file
    if require_all and fusion:
        raise CheckpointError(f"{path}: does not fit {type(model).__name__}'s HRNet: {len(fusion)} backbone tensors "
                              f"not found in it, e.g. {fusion[0]}")
    return report


# Detectors take whole images (shorter side 800, longer at most 1333) and predict COCO's 80 classes.
_DET_INFO = ModelInfo("det", (800, 1333), "coco")


def _register() -> None:
    for name in named_specs():
        register_model(registered_name("det_fasterrcnn", name), lambda _n=name, **kw: build_faster_rcnn(_n, **kw),
                       _DET_INFO)
        register_model(registered_name("det_fcos", name), lambda _n=name, **kw: build_fcos(_n, **kw), _DET_INFO)


_register()
