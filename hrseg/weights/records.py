"""The table of published checkpoints hrseg loads by name, one :class:`~hrseg.weights.record.WeightRecord` each.

Every URL, metric and licence is copied from ``reference/published_weights.md`` (the projects'
metafiles, READMEs and model code); no file was downloaded to write it. ``sha256`` is the hash
prefix the file name carries (OpenMMLab's and torchvision's publish tools name files
``...-<first 8 hex digits of the file's SHA-256>``); files without one (timm on the Hugging Face
hub, the official HRNet GitHub releases) are not hash-checked, which :func:`download` says.

Names are ``<hrseg model>.<source>_<dataset>_<recipe>``; ``tags`` are the short names
``build_model(model, weights=TAG)`` accepts for that model (``coco``, ``cityscapes``, ``imagenet``).
"""
from __future__ import annotations

import re
from typing import Any

from hrseg.codecs.msra import RECIPE_CODECS
from hrseg.weights.mmdet import FCOS_MODEL_OPTIONS
from hrseg.weights.record import WeightRecord

OPENMMLAB = "https://download.openmmlab.com"
MMPOSE1 = f"{OPENMMLAB}/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco"
MMPOSE0 = f"{OPENMMLAB}/mmpose/top_down/hrnet"
MMPOSE0_UDP = f"{OPENMMLAB}/mmpose/top_down/udp"
MMSEG = f"{OPENMMLAB}/mmsegmentation/v0.5"
MMDET = f"{OPENMMLAB}/mmdetection/v2.0/hrnet"
HRNET_OCR = "https://github.com/hsfzxjy/models.storage/releases/download/HRNet-OCR"
HF_TIMM = "https://huggingface.co/timm"

APACHE = "Apache-2.0 (OpenMMLab code; no separate licence for the weights; the data's terms apply)"
MIT = "MIT (official HRNet code; no separate licence for the weights; the data's terms apply)"
TORCHVISION = "BSD-3-Clause (torchvision code; its pre-trained-model caveat and COCO's terms apply)"

COCO_KP = "COCO val2017, person boxes of AP 56.4, flip test"
MPII_KP = "MPII val, PCKh@0.5, flip test"
CITY = "Cityscapes val, single scale, whole 2048x1024 image"
CTX59 = "PASCAL-Context 59 val, 480x480 sliding window"
CTX60 = "PASCAL-Context 60 val, 480x480 sliding window"
ADE = "ADE20K val, single scale, short side 512 (long side at most 2048)"
VOC = "PASCAL VOC 2012 val, single scale, short side 512 (long side at most 2048)"
LIP = "LIP val, squashed to 473x473, flip"
ADE_OFFICIAL = "ADE20K val, short side 520, multi-scale + flip"
COCO_STUFF = "COCO-Stuff 10k test (val.lst), short side 520, multi-scale + flip"

# The test setting each segmentation metric was measured with, as a config's ``test`` section
# (hrseg.inference.segmentation; ``TASK.config_for_record`` puts it in a record's config):
# Cityscapes (official and mmseg): the whole 2048x1024 frame as it is, one scale, no flip;
# mmseg PASCAL-Context 59 and 60: Resize img_scale (520, 520) keep_ratio (long side 520), then
# test_cfg mode='slide' 480x480 windows at stride 320 (configs/_base_/datasets/pascal_context{,_59}.py,
# configs/hrnet/fcn_hr18_4xb4-80k_pascal-context-59-480x480.py), logits averaged;
# mmseg ADE20K and VOC: Resize scale (2048, 512) keep_ratio (the smaller of 2048 / long side and
# 512 / short side; configs/_base_/datasets/{ade20k,pascal_voc12}.py), the whole image, one pass;
# official PASCAL-Context 59: the README's evaluation (official multi_scale_inference, 0.5-2.0 + flip).
CITY_TEST: dict[str, Any] = dict(mode="whole", base_size=None, scales=[1.0], flip=False)
CTX59_MMSEG_TEST: dict[str, Any] = dict(mode="slide", base_size=520, crop_size=[480, 480], stride=[320, 320],
                                        scales=[1.0], flip=False)
MMSEG_512_TEST: dict[str, Any] = dict(mode="whole", base_size=2048, short_size=512, scales=[1.0], flip=False)
CTX59_OFFICIAL_TEST: dict[str, Any] = dict(protocol="official_ms", protocol_dataset="pascal_context")
# official LIP: lib/datasets/lip.py on the testval list (squashed to 473x473, one scale + flip with the
# left/right classes exchanged, resized back to the image): the README's 55.83 / 56.48.
LIP_OFFICIAL_TEST: dict[str, Any] = dict(protocol="official_ms", protocol_dataset="lip")
# official ADE20K and COCO-Stuff: the README's evaluation (testval: short side 520 padded to stride 8, then
# multi_scale_inference at 0.5-2.0 + flip); base_size and crop kept so that test.protocol=official is its
# single-scale row (43.1 / 44.5 ADE20K, 36.2 / 39.7 COCO-Stuff)
ADE_OFFICIAL_TEST: dict[str, Any] = dict(protocol="official_ms", protocol_dataset="ade20k", base_size=520,
                                         crop_size=[520, 520])
COCO_STUFF_OFFICIAL_TEST: dict[str, Any] = dict(ADE_OFFICIAL_TEST, protocol_dataset="cocostuff")

# The meta a model needs; its names refer to the tables of hrseg.weights.record (CLASS_TABLES, ...).
_POSE_META = {"keypoints": "coco_17", "normalize": "imagenet"}
_SEG_META = {"normalize": "imagenet"}
_CLS_META = {"normalize": "imagenet", "input_size": [224, 224]}
_DET_META = {"classes": "coco_80", "normalize": "imagenet", "input_size": [800, 1333]}
# Millions of parameters by model and classes (the head's last layer; tests/test_weights.py counts them)
_SEG_PARAMS = {"seg_hrnetv2_w18_small_v2": {19: 3.94, 150: 3.98, 21: 3.94},
               "seg_hrnetv2_w18": {19: 9.64, 150: 9.68, 21: 9.64},
               "seg_hrnetv2_w48": {19: 65.86, 150: 65.95, 21: 65.86, 59: 65.89, 60: 65.89, 171: 65.97},
               "seg_hrnetv2_ocr_w18_small_v2": {19: 6.38, 150: 6.48, 21: 6.38},
               "seg_hrnetv2_ocr_w18": {19: 12.08, 150: 12.18, 21: 12.08},
               "seg_hrnetv2_ocr_w48": {19: 70.37, 150: 70.53, 21: 70.38, 171: 70.56}}
# mmsegmentation's datasets by the word its config names carry: the record's dataset, classes, metric setting
# and test setting (the more specific word first)
_MMSEG_DATA = {"pascal_context_59": ("pascal_context_59", "pascal_context_59", CTX59, CTX59_MMSEG_TEST),
               "pascal_context": ("pascal_context_60", "pascal_context_60", CTX60, CTX59_MMSEG_TEST),
               "cityscapes": ("cityscapes", "cityscapes_19", CITY, CITY_TEST),
               "ade20k": ("ade20k", "ade20k_150", ADE, MMSEG_512_TEST),
               "voc12aug": ("voc12aug", "voc_21", VOC, MMSEG_512_TEST)}


def _pose(width: int, size: str, layout: str, url: str, metric: str, tags: tuple[str, ...] = (),
          codec: str = "msra", data: str = "coco", **meta: Any) -> WeightRecord:
    """``codec``: msra, dark, udp or udp_regress (mmpose's codec of the recipe); ``data``: coco (17 keypoints)
    or mpii (16); ``meta``: more of what it sets."""
    h, w = (int(v) for v in size.split("x"))
    if codec not in RECIPE_CODECS:
        raise ValueError(f"{url}: codec {codec!r}, not one of {', '.join(RECIPE_CODECS)}")
    source = "mmpose 1.x" if layout == "mmpose1x" else "mmpose 0.x"
    suffix = "" if codec == "msra" else f"_{codec}"
    keypoints = {"coco": "coco_17", "mpii": "mpii_16"}[data]
    return WeightRecord(f"pose_hrnet_w{width}.{layout}_{data}_{size}{suffix}", url, layout, source, APACHE, metric,
                        COCO_KP if data == "coco" else MPII_KP, {32: 28.54, 48: 63.60}[width], tags,
                        dict(_POSE_META, keypoints=keypoints, input_size=[h, w], codec=codec, **meta))


def _seg(name: str, url: str, layout: str, source: str, metric: str, dataset: str, params: float,
         classes: str, crop: list[int], align_corners: bool, tags: tuple[str, ...] = (),
         test: dict[str, Any] | None = None) -> WeightRecord:
    """``test``: the setting of ``metric`` (default: Cityscapes', :data:`CITY_TEST`)."""
    licence = MIT if layout == "official" else APACHE
    return WeightRecord(name, url, layout, source, licence, metric, dataset, params, tags,
                        dict(_SEG_META, classes=classes, input_size=crop, align_corners=align_corners,
                             test=dict(CITY_TEST if test is None else test)))


def _mmseg(model: str, config: str, stamp: str, miou: str, tags: tuple[str, ...] = ()) -> WeightRecord:
    """An mmsegmentation file named by its config and its file's date stamp and hash: its dataset, crop
    (``HxW``) and schedule (40k, 80k, ...) read from the config's name, the dataset and schedule in the
    record's name; ``align_corners=False`` as every mmsegmentation HRNet config."""
    folder = "ocrnet" if config.startswith("ocrnet") else "hrnet"
    word = next(w for w in _MMSEG_DATA if w in config)
    dataset, classes, metric_setting, test = _MMSEG_DATA[word]
    schedule = re.search(r"(\d+k)", config).group(1)
    crop = [int(v) for v in re.search(r"(\d+)x(\d+)", config).groups()]
    return _seg(f"{model}.mmseg_{dataset}_{schedule}", f"{MMSEG}/{folder}/{config}/{config}_{stamp}.pth",
                "mmseg_ocr" if folder == "ocrnet" else "mmseg_fcn", "mmsegmentation", f"mIoU {miou}", metric_setting,
                _SEG_PARAMS[model][int(classes.rsplit("_", 1)[1])], classes, crop, False, tags, test)


def _timm(model: str, timm_name: str, top1: str, params: float) -> WeightRecord:
    return WeightRecord(f"{model}.timm_ms_in1k", f"{HF_TIMM}/{timm_name}.ms_in1k/resolve/main/model.safetensors",
                        "timm", "timm (Hugging Face hub; the official HRNet-Image-Classification weights)",
                        "mit (timm hub card; ImageNet's terms apply)", f"top-1 {top1}", "ImageNet val, 224",
                        params, ("imagenet",), dict(_CLS_META))


def _msra(model: str, url: str, params: float, what: str) -> WeightRecord:
    return WeightRecord(f"{model}.msra_{what}", url, "imagenet", "official HRNet ImageNet file (OpenMMLab mirror)",
                        MIT, "none published with it", "ImageNet", params, (what,), dict(_CLS_META))


def _det(width: int, sched: str, url: str, ap: str, tags: tuple[str, ...], kind: str = "fasterrcnn") -> WeightRecord:
    """mmdetection's HRNetV2p detectors; ``kind`` fasterrcnn, maskrcnn (its metric: box / mask AP), cascadercnn,
    cascademaskrcnn or htc."""
    params = {"fasterrcnn": {18: 27.49, 32: 47.28, 40: 63.53}, "maskrcnn": {18: 30.13, 32: 49.93, 40: 66.17},
              "cascadercnn": {18: 55.12, 32: 74.92, 40: 91.17},
              "cascademaskrcnn": {18: 63.05, 32: 82.85, 40: 99.10},
              "htc": {18: 65.99, 32: 85.79, 40: 102.03}}[kind][width]
    layout = "mmdet_cascade_rcnn" if kind.startswith(("cascade", "htc")) else "mmdet_faster_rcnn"
    return WeightRecord(f"det_{kind}_hrnetv2p_w{width}.mmdet_coco_{sched}", url, layout,
                        "mmdetection 2.x", APACHE, ap if "AP" in ap else f"box AP {ap}", "COCO val2017, 1333x800",
                        params, tags, dict(_DET_META))


def _fcos(width: int, sched: str, stamp: str, ap: str, tags: tuple[str, ...] = ()) -> WeightRecord:
    """mmdetection's FCOS HRNetV2p files (GN head, 4 GPUs x 4 images): on ``det_fcos`` with mmdetection's head
    and test (``head_type="mmdetection"``, :mod:`hrseg.models.fcos_mmdet`); ``sched`` 1x, 2x or 2x_ms640-800."""
    config = f"fcos_hrnetv2p_w{width}_gn-head_{'mstrain_640-800_' if 'ms' in sched else ''}4x4_{sched[:2]}_coco"
    return WeightRecord(f"det_fcos_hrnetv2p_w{width}.mmdet_coco_{sched}", f"{MMDET}/{config}/{config}_{stamp}.pth",
                        "mmdet_fcos", "mmdetection 2.x", APACHE, f"box AP {ap}", "COCO val2017, 1333x800",
                        {18: 17.50, 32: 37.30, 40: 53.54}[width], tags, dict(_DET_META, **FCOS_MODEL_OPTIONS))


RECORDS: tuple[WeightRecord, ...] = (
    # -- pose, mmpose 1.x (the default picks: no login needed) --
    _pose(32, "256x192", "mmpose1x", f"{MMPOSE1}/td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth",
          "AP 0.746", ("coco",)),
    _pose(32, "384x288", "mmpose1x", f"{MMPOSE1}/td-hm_hrnet-w32_8xb64-210e_coco-384x288-ca5956af_20220909.pth",
          "AP 0.760", ("coco_384x288",)),
    _pose(48, "256x192", "mmpose1x", f"{MMPOSE1}/td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth",
          "AP 0.756", ("coco",)),
    _pose(48, "384x288", "mmpose1x", f"{MMPOSE1}/td-hm_hrnet-w48_8xb32-210e_coco-384x288-c161b7de_20220915.pth",
          "AP 0.767", ("coco_384x288",)),
    _pose(32, "256x192", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w32_dark-8xb64-210e_coco-256x192-0e00bf12_20220914.pth", "AP 0.757",
          ("coco_dark",), "dark"),
    _pose(32, "384x288", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w32_dark-8xb64-210e_coco-384x288-9bab4c9b_20220917.pth", "AP 0.766",
          ("coco_384x288_dark",), "dark"),
    _pose(48, "256x192", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w48_dark-8xb32-210e_coco-256x192-e1ebdd6f_20220913.pth", "AP 0.764",
          ("coco_dark",), "dark"),
    _pose(48, "384x288", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w48_dark-8xb32-210e_coco-384x288-39c3c381_20220916.pth", "AP 0.772",
          ("coco_384x288_dark",), "dark"),
    # UDP: mmpose 1.x's UDPHeatmap keeps its default blur kernel 11 at sigma 3 (0.x's recipes: 17)
    _pose(32, "256x192", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w32_udp-8xb64-210e_coco-256x192-73ede547_20220914.pth", "AP 0.762",
          ("coco_udp",), "udp"),
    _pose(32, "384x288", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w32_udp-8xb64-210e_coco-384x288-9a3f7c85_20220914.pth", "AP 0.768",
          ("coco_384x288_udp",), "udp", blur_kernel=11),
    _pose(48, "256x192", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w48_udp-8xb32-210e_coco-256x192-3feaef8f_20220913.pth", "AP 0.768",
          ("coco_udp",), "udp"),
    _pose(48, "384x288", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w48_udp-8xb32-210e_coco-384x288-70d7ab01_20220913.pth", "AP 0.773",
          ("coco_384x288_udp",), "udp", blur_kernel=11),
    # UDP's combined maps (3 per joint: hrseg.codecs.combined); 0.x's decoding also blurs the offsets
    _pose(32, "256x192", "mmpose1x",
          f"{MMPOSE1}/td-hm_hrnet-w32_udp-regress-8xb64-210e_coco-256x192-9c0b77b4_20220926.pth", "AP 0.759",
          ("coco_udp_regress",), "udp_regress"),
    # -- pose, mmpose 0.x --
    _pose(32, "256x192", "mmpose0x", f"{MMPOSE0}/hrnet_w32_coco_256x192-c78dce93_20200708.pth", "AP 0.746"),
    _pose(32, "384x288", "mmpose0x", f"{MMPOSE0}/hrnet_w32_coco_384x288-d9f0d786_20200708.pth", "AP 0.760"),
    _pose(48, "256x192", "mmpose0x", f"{MMPOSE0}/hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth", "AP 0.756"),
    _pose(48, "384x288", "mmpose0x", f"{MMPOSE0}/hrnet_w48_coco_384x288-314c8528_20200708.pth", "AP 0.767"),
    _pose(32, "256x192", "mmpose0x", f"{MMPOSE0}/hrnet_w32_coco_256x192_dark-07f147eb_20200812.pth", "AP 0.757",
          codec="dark"),
    _pose(32, "384x288", "mmpose0x", f"{MMPOSE0}/hrnet_w32_coco_384x288_dark-307dafc2_20210203.pth", "AP 0.766",
          codec="dark"),
    _pose(48, "256x192", "mmpose0x", f"{MMPOSE0}/hrnet_w48_coco_256x192_dark-8cba3197_20200812.pth", "AP 0.764",
          codec="dark"),
    _pose(48, "384x288", "mmpose0x", f"{MMPOSE0}/hrnet_w48_coco_384x288_dark-e881a4b6_20210203.pth", "AP 0.772",
          codec="dark"),
    _pose(32, "256x192", "mmpose0x", f"{MMPOSE0_UDP}/hrnet_w32_coco_256x192_udp-aba0be42_20210220.pth", "AP 0.760",
          codec="udp"),
    _pose(32, "384x288", "mmpose0x", f"{MMPOSE0_UDP}/hrnet_w32_coco_384x288_udp-e97c1a0f_20210223.pth", "AP 0.769",
          codec="udp"),
    _pose(48, "256x192", "mmpose0x", f"{MMPOSE0_UDP}/hrnet_w48_coco_256x192_udp-2554c524_20210223.pth", "AP 0.767",
          codec="udp"),
    _pose(48, "384x288", "mmpose0x", f"{MMPOSE0_UDP}/hrnet_w48_coco_384x288_udp-0f89c63e_20210223.pth", "AP 0.772",
          codec="udp"),
    _pose(32, "256x192", "mmpose0x", f"{MMPOSE0_UDP}/hrnet_w32_coco_256x192_udp_regress-be2dbba4_20210222.pth",
          "AP 0.758", codec="udp_regress", offset_blur=11),
    # MPII's 16 joints (mmpose 1.x lists the same files)
    _pose(32, "256x256", "mmpose0x", f"{MMPOSE0}/hrnet_w32_mpii_256x256-6c4f923f_20200812.pth", "PCKh 0.900",
          ("mpii",), data="mpii"),
    _pose(48, "256x256", "mmpose0x", f"{MMPOSE0}/hrnet_w48_mpii_256x256-92cab7bd_20200812.pth", "PCKh 0.901",
          ("mpii",), data="mpii"),
    _pose(32, "256x256", "mmpose0x", f"{MMPOSE0}/hrnet_w32_mpii_256x256_dark-f1601c5b_20200927.pth", "PCKh 0.904",
          ("mpii_dark",), "dark", "mpii"),
    _pose(48, "256x256", "mmpose0x", f"{MMPOSE0}/hrnet_w48_mpii_256x256_dark-0decd39f_20200927.pth", "PCKh 0.905",
          ("mpii_dark",), "dark", "mpii"),
    # -- segmentation: the official files (GitHub releases) and mmsegmentation's --
    _seg("seg_hrnetv2_w48.official_cityscapes", f"{HRNET_OCR}/hrnet_cs_8090_torch11.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 80.9", CITY, 65.86, "cityscapes_19",
         [512, 1024], False, ("cityscapes",)),
    _seg("seg_hrnetv2_ocr_w48.official_cityscapes", f"{HRNET_OCR}/hrnet_ocr_cs_8162_torch11.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 81.6", CITY, 70.37, "cityscapes_19",
         [512, 1024], True, ("cityscapes",)),
    _seg("seg_hrnetv2_w48.official_pascal_context_59", f"{HRNET_OCR}/hrnet_pascal_ctx_5410_torch11.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 54.1",
         "PASCAL-Context 59 val, multi-scale + flip", 65.89, "pascal_context_59", [520, 520], False,
         ("pascal_context_59",), CTX59_OFFICIAL_TEST),
    _seg("seg_hrnetv2_w48.official_lip", f"{HRNET_OCR}/hrnet_lip_5583_torch04.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 55.83", LIP, 65.86, "lip_20", [473, 473], False,
         ("lip",), LIP_OFFICIAL_TEST),
    _seg("seg_hrnetv2_ocr_w48.official_lip", f"{HRNET_OCR}/hrnet_ocr_lip_5648_torch04.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 56.48", LIP, 70.37, "lip_20", [473, 473], True,
         ("lip",), LIP_OFFICIAL_TEST),
    # ADE20K and COCO-Stuff (10k): trained with the HRNet-OCR code's align_corners=True (their YAMLs leave it)
    _seg("seg_hrnetv2_w48.official_ade20k", f"{HRNET_OCR}/hrnet_ade20k_4312_torch04.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 44.2", ADE_OFFICIAL, 65.95, "ade20k_150",
         [520, 520], True, ("ade20k",), ADE_OFFICIAL_TEST),
    _seg("seg_hrnetv2_ocr_w48.official_ade20k", f"{HRNET_OCR}/hrnet_ocr_ade20k_4451_torch04.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 45.5", ADE_OFFICIAL, 70.53, "ade20k_150",
         [520, 520], True, ("ade20k",), ADE_OFFICIAL_TEST),
    _seg("seg_hrnetv2_w48.official_cocostuff", f"{HRNET_OCR}/hrnet_cocostuff_3617_torch04.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 37.9", COCO_STUFF, 65.97, "cocostuff_171",
         [520, 520], True, ("cocostuff",), COCO_STUFF_OFFICIAL_TEST),
    _seg("seg_hrnetv2_ocr_w48.official_cocostuff", f"{HRNET_OCR}/hrnet_ocr_cocostuff_3965_torch04.pth", "official",
         "HRNet-Semantic-Segmentation (HRNet-OCR branch)", "mIoU 40.6", COCO_STUFF, 70.56, "cocostuff_171",
         [520, 520], True, ("cocostuff",), COCO_STUFF_OFFICIAL_TEST),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_480x480_80k_pascal_context_59", "20210411_003240-3ae7081e", "51.12",
           ("pascal_context_59_mmseg",)),
    # mmsegmentation's files (HR18-Small is W18-Small-v2): Cityscapes, FCN and OCRNet at 40k, 80k and 160k
    _mmseg("seg_hrnetv2_w18_small_v2", "fcn_hr18s_512x1024_40k_cityscapes", "20200601_014216-93db27d0", "73.86"),
    _mmseg("seg_hrnetv2_w18_small_v2", "fcn_hr18s_512x1024_80k_cityscapes", "20200601_202700-1462b75d", "75.31"),
    _mmseg("seg_hrnetv2_w18_small_v2", "fcn_hr18s_512x1024_160k_cityscapes", "20200602_190901-4a0797ea", "76.31"),
    _mmseg("seg_hrnetv2_w18", "fcn_hr18_512x1024_40k_cityscapes", "20200601_014216-f196fb4e", "77.19"),
    _mmseg("seg_hrnetv2_w18", "fcn_hr18_512x1024_80k_cityscapes", "20200601_223255-4e7b345e", "78.65"),
    _mmseg("seg_hrnetv2_w18", "fcn_hr18_512x1024_160k_cityscapes", "20200602_190822-221e4a4f", "78.80",
           ("cityscapes",)),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_512x1024_40k_cityscapes", "20200601_014240-a989b146", "78.48"),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_512x1024_80k_cityscapes", "20200601_202606-58ea95d6", "79.93"),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_512x1024_160k_cityscapes", "20200602_190946-59b7973e", "80.65",
           ("cityscapes_mmseg",)),
    _mmseg("seg_hrnetv2_ocr_w18_small_v2", "ocrnet_hr18s_4xb2-40k_cityscapes-512x1024", "20230227_145026-6c052a14",
           "76.61"),
    _mmseg("seg_hrnetv2_ocr_w18_small_v2", "ocrnet_hr18s_512x1024_80k_cityscapes", "20200601_222735-55979e63", "77.16"),
    _mmseg("seg_hrnetv2_ocr_w18_small_v2", "ocrnet_hr18s_512x1024_160k_cityscapes", "20200602_191005-f4a7af28",
           "78.45"),
    _mmseg("seg_hrnetv2_ocr_w18", "ocrnet_hr18_512x1024_40k_cityscapes", "20200601_033320-401c5bdd", "77.72"),
    _mmseg("seg_hrnetv2_ocr_w18", "ocrnet_hr18_512x1024_80k_cityscapes", "20200614_230521-c2e1dd4a", "78.57"),
    _mmseg("seg_hrnetv2_ocr_w18", "ocrnet_hr18_512x1024_160k_cityscapes", "20200602_191001-b9172d0c", "79.47",
           ("cityscapes",)),
    _mmseg("seg_hrnetv2_ocr_w48", "ocrnet_hr48_512x1024_40k_cityscapes", "20200601_033336-55b32491", "80.58"),
    _mmseg("seg_hrnetv2_ocr_w48", "ocrnet_hr48_512x1024_80k_cityscapes", "20200601_222752-9076bcdf", "80.70"),
    _mmseg("seg_hrnetv2_ocr_w48", "ocrnet_hr48_512x1024_160k_cityscapes", "20200602_191037-dfbf1b0c", "81.35",
           ("cityscapes_mmseg",)),
    # mmsegmentation's ADE20K (150 classes), VOC 2012 + SBD (21) and PASCAL-Context 60 and 59 files
    _mmseg("seg_hrnetv2_w18_small_v2", "fcn_hr18s_512x512_80k_ade20k", "20200614_144345-77fc814a", "31.38"),
    _mmseg("seg_hrnetv2_w18", "fcn_hr18_512x512_80k_ade20k", "20210827_114910-6c9382c0", "36.27"),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_512x512_80k_ade20k", "20200614_193946-7ba5258d", "41.90"),
    _mmseg("seg_hrnetv2_w18_small_v2", "fcn_hr18s_512x512_160k_ade20k", "20210829_174739-f1e7c2e7", "33.07"),
    _mmseg("seg_hrnetv2_w18", "fcn_hr18_512x512_160k_ade20k", "20200614_214426-ca961836", "36.79"),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_512x512_160k_ade20k", "20200614_214407-a52fc02c", "42.02",
           ("ade20k_mmseg",)),
    _mmseg("seg_hrnetv2_w18_small_v2", "fcn_hr18s_512x512_20k_voc12aug", "20210829_174910-0aceadb4", "65.50"),
    _mmseg("seg_hrnetv2_w18", "fcn_hr18_512x512_20k_voc12aug", "20200617_224503-488d45f7", "72.30"),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_512x512_20k_voc12aug", "20200617_224419-89de05cd", "75.87"),
    _mmseg("seg_hrnetv2_w18_small_v2", "fcn_hr18s_512x512_40k_voc12aug", "20200614_000648-4f8d6e7f", "66.61"),
    _mmseg("seg_hrnetv2_w18", "fcn_hr18_512x512_40k_voc12aug", "20200613_224401-1b4b76cd", "72.90"),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_512x512_40k_voc12aug", "20200613_222111-1b0f18bc", "76.24", ("voc",)),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_480x480_40k_pascal_context", "20200911_164852-667d00b0", "45.14"),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_480x480_80k_pascal_context", "20200911_155322-847a6711",
           "45.84", ("pascal_context_60",)),
    _mmseg("seg_hrnetv2_w48", "fcn_hr48_480x480_40k_pascal_context_59", "20210410_122738-b808b8b2", "50.33"),
    _mmseg("seg_hrnetv2_ocr_w18_small_v2", "ocrnet_hr18s_512x512_80k_ade20k", "20200615_055600-e80b62af", "35.06"),
    _mmseg("seg_hrnetv2_ocr_w18", "ocrnet_hr18_512x512_80k_ade20k", "20200615_053157-d173d83b", "37.79"),
    _mmseg("seg_hrnetv2_ocr_w48", "ocrnet_hr48_512x512_80k_ade20k", "20200615_021518-d168c2d1", "43.00"),
    _mmseg("seg_hrnetv2_ocr_w18_small_v2", "ocrnet_hr18s_512x512_160k_ade20k", "20200615_184505-8e913058", "37.19"),
    _mmseg("seg_hrnetv2_ocr_w18", "ocrnet_hr18_512x512_160k_ade20k", "20200615_200940-d8fcd9d1", "39.32"),
    _mmseg("seg_hrnetv2_ocr_w48", "ocrnet_hr48_512x512_160k_ade20k", "20200615_184705-a073726d", "43.25",
           ("ade20k_mmseg",)),
    _mmseg("seg_hrnetv2_ocr_w18_small_v2", "ocrnet_hr18s_512x512_20k_voc12aug", "20200617_233913-02b04fcb", "71.70"),
    _mmseg("seg_hrnetv2_ocr_w18", "ocrnet_hr18_512x512_20k_voc12aug", "20200617_233932-8954cbb7", "74.75"),
    _mmseg("seg_hrnetv2_ocr_w48", "ocrnet_hr48_512x512_20k_voc12aug", "20200617_233932-9e82080a", "77.72",
           ("voc",)),
    _mmseg("seg_hrnetv2_ocr_w18_small_v2", "ocrnet_hr18s_512x512_40k_voc12aug", "20200614_002025-42b587ac", "72.76"),
    _mmseg("seg_hrnetv2_ocr_w18", "ocrnet_hr18_512x512_40k_voc12aug", "20200614_015958-714302be", "74.98"),
    _mmseg("seg_hrnetv2_ocr_w48", "ocrnet_hr48_512x512_40k_voc12aug", "20200614_015958-255bc5ce", "77.14"),
    # -- ImageNet backbones: timm's safetensors (every width) and the official files the recipes name --
    _timm("hrnet_w18_small_v1", "hrnet_w18_small", "72.34", 1.48),
    _timm("hrnet_w18_small_v2", "hrnet_w18_small_v2", "75.09", 3.86),
    _timm("hrnet_w18", "hrnet_w18", "76.77", 9.56),
    _timm("hrnet_w30", "hrnet_w30", "78.20", 25.81),
    _timm("hrnet_w32", "hrnet_w32", "78.45", 29.31),
    _timm("hrnet_w40", "hrnet_w40", "78.93", 45.52),
    _timm("hrnet_w44", "hrnet_w44", "78.89", 54.97),
    _timm("hrnet_w48", "hrnet_w48", "79.33", 65.33),
    _timm("hrnet_w64", "hrnet_w64", "79.46", 115.70),
    _msra("hrnet_w32", f"{OPENMMLAB}/mmpose/pretrain_models/hrnet_w32-36af842e.pth", 29.31, "imagenet_pose"),
    _msra("hrnet_w48", f"{OPENMMLAB}/mmpose/pretrain_models/hrnet_w48-8ef0771d.pth", 65.33, "imagenet_pose"),
    _msra("hrnet_w18_small_v2", f"{OPENMMLAB}/pretrain/third_party/hrnetv2_w18_small-b5a04e21.pth", 3.86,
          "imagenet_v2"),  # open-mmlab://msra/hrnetv2_w18_small: mmsegmentation's HR18-Small is W18-Small-v2
    _msra("hrnet_w18", f"{OPENMMLAB}/pretrain/third_party/hrnetv2_w18-00eb2006.pth", 9.56, "imagenet_v2"),
    _msra("hrnet_w32", f"{OPENMMLAB}/pretrain/third_party/hrnetv2_w32-dc9eeb4f.pth", 29.31, "imagenet_v2"),
    _msra("hrnet_w40", f"{OPENMMLAB}/pretrain/third_party/hrnetv2_w40-ed0b031c.pth", 45.52, "imagenet_v2"),
    _msra("hrnet_w48", f"{OPENMMLAB}/pretrain/third_party/hrnetv2_w48-d2186c55.pth", 65.33, "imagenet_v2"),
    # -- detection --
    _det(18, "1x", f"{MMDET}/faster_rcnn_hrnetv2p_w18_1x_coco/faster_rcnn_hrnetv2p_w18_1x_coco_20200130-56651a6d.pth",
         "36.9", ("coco_1x",)),
    _det(18, "2x", f"{MMDET}/faster_rcnn_hrnetv2p_w18_2x_coco/"
         "faster_rcnn_hrnetv2p_w18_2x_coco_20200702_085731-a4ec0611.pth", "38.9", ("coco",)),
    _det(32, "1x", f"{MMDET}/faster_rcnn_hrnetv2p_w32_1x_coco/faster_rcnn_hrnetv2p_w32_1x_coco_20200130-6e286425.pth",
         "40.2", ("coco_1x",)),
    _det(32, "2x", f"{MMDET}/faster_rcnn_hrnetv2p_w32_2x_coco/"
         "faster_rcnn_hrnetv2p_w32_2x_coco_20200529_015927-976a9c15.pth", "41.4", ("coco",)),
    _det(40, "1x", f"{MMDET}/faster_rcnn_hrnetv2p_w40_1x_coco/faster_rcnn_hrnetv2p_w40_1x_coco_20200210-95c1f5ce.pth",
         "41.2", ("coco_1x",)),
    _det(40, "2x", f"{MMDET}/faster_rcnn_hrnetv2p_w40_2x_coco/"
         "faster_rcnn_hrnetv2p_w40_2x_coco_20200512_161033-0f236ef4.pth", "42.1", ("coco",)),
    _det(18, "1x", f"{MMDET}/mask_rcnn_hrnetv2p_w18_1x_coco/mask_rcnn_hrnetv2p_w18_1x_coco_20200205-1c3d78ed.pth",
         "box AP 37.7 / mask AP 34.2", ("coco_1x",), "maskrcnn"),
    _det(18, "2x", f"{MMDET}/mask_rcnn_hrnetv2p_w18_2x_coco/mask_rcnn_hrnetv2p_w18_2x_coco_20200212-b3c825b1.pth",
         "box AP 39.8 / mask AP 36.0", ("coco",), "maskrcnn"),
    _det(32, "1x", f"{MMDET}/mask_rcnn_hrnetv2p_w32_1x_coco/mask_rcnn_hrnetv2p_w32_1x_coco_20200207-b29f616e.pth",
         "box AP 41.2 / mask AP 37.1", ("coco_1x",), "maskrcnn"),
    _det(32, "2x", f"{MMDET}/mask_rcnn_hrnetv2p_w32_2x_coco/mask_rcnn_hrnetv2p_w32_2x_coco_20200213-45b75b4d.pth",
         "box AP 42.5 / mask AP 37.8", ("coco",), "maskrcnn"),
    _det(40, "1x", f"{MMDET}/mask_rcnn_hrnetv2p_w40_1x_coco/"
         "mask_rcnn_hrnetv2p_w40_1x_coco_20200511_015646-66738b35.pth", "box AP 42.1 / mask AP 37.5", ("coco_1x",),
         "maskrcnn"),
    _det(40, "2x", f"{MMDET}/mask_rcnn_hrnetv2p_w40_2x_coco/"
         "mask_rcnn_hrnetv2p_w40_2x_coco_20200512_163732-aed5e4ab.pth", "box AP 42.8 / mask AP 38.2", ("coco",),
         "maskrcnn"),
    _det(18, "20e", f"{MMDET}/cascade_rcnn_hrnetv2p_w18_20e_coco/"
         "cascade_rcnn_hrnetv2p_w18_20e_coco_20200210-434be9d7.pth", "41.2", ("coco",), "cascadercnn"),
    _det(32, "20e", f"{MMDET}/cascade_rcnn_hrnetv2p_w32_20e_coco/"
         "cascade_rcnn_hrnetv2p_w32_20e_coco_20200208-928455a4.pth", "43.3", ("coco",), "cascadercnn"),
    _det(40, "20e", f"{MMDET}/cascade_rcnn_hrnetv2p_w40_20e_coco/"
         "cascade_rcnn_hrnetv2p_w40_20e_coco_20200512_161112-75e47b04.pth", "43.8", ("coco",), "cascadercnn"),
    _det(18, "20e", f"{MMDET}/cascade_mask_rcnn_hrnetv2p_w18_20e_coco/"
         "cascade_mask_rcnn_hrnetv2p_w18_20e_coco_20200210-b543cd2b.pth", "box AP 41.6 / mask AP 36.4", ("coco",),
         "cascademaskrcnn"),
    _det(32, "20e", f"{MMDET}/cascade_mask_rcnn_hrnetv2p_w32_20e_coco/"
         "cascade_mask_rcnn_hrnetv2p_w32_20e_coco_20200512_154043-39d9cf7b.pth", "box AP 44.3 / mask AP 38.6",
         ("coco",), "cascademaskrcnn"),
    _det(40, "20e", f"{MMDET}/cascade_mask_rcnn_hrnetv2p_w40_20e_coco/"
         "cascade_mask_rcnn_hrnetv2p_w40_20e_coco_20200527_204922-969c4610.pth", "box AP 45.1 / mask AP 39.3",
         ("coco",), "cascademaskrcnn"),
    *(_det(w, "20e", f"{MMDET}/htc_hrnetv2p_w{w}_20e_coco/htc_hrnetv2p_w{w}_20e_coco_{stamp}.pth", ap, ("coco",), "htc")
      for w, stamp, ap in ((18, "20200210-b266988c", "box AP 42.8 / mask AP 37.9"),
                           (32, "20200207-7639fa12", "box AP 45.4 / mask AP 39.9"),
                           (40, "20200529_183411-417c4d5b", "box AP 46.4 / mask AP 40.8"))),
    _fcos(18, "1x", "20201212_100710-4ad151de", "35.3", ("coco_1x",)),
    _fcos(18, "2x", "20201212_101110-5c575fa5", "38.2", ("coco_2x",)),
    _fcos(32, "1x", "20201211_134730-cb8055c0", "39.5", ("coco_1x",)),
    _fcos(32, "2x", "20201212_112133-77b6b9bb", "40.8", ("coco_2x",)),
    _fcos(18, "2x_ms640-800", "20201212_111651-441e9d9f", "38.3", ("coco",)),
    _fcos(32, "2x_ms640-800", "20201212_090846-b6f2b49f", "41.9", ("coco",)),
    _fcos(40, "2x_ms640-800", "20201212_124752-f22d2ce5", "42.7", ("coco",)),
    # -- the person detector in front of top-down pose --
    WeightRecord("fasterrcnn_resnet50_fpn_v2.torchvision_coco",
                 "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth", "torchvision",
                 "torchvision (FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1)", TORCHVISION,
                 "box mAP 46.7 (all classes)", "COCO val2017", 43.71, ("coco", "person"),
                 dict(_DET_META, classes="coco_91")),
)
