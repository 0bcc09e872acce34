"""Detector model options: torchvision's keys each detector passes on are the only extra ones it
takes (a misspelt or another head's key is an error naming the closest), and their values are
range-checked, for Faster R-CNN, FCOS, Mask R-CNN and the multi-task model alike."""
from __future__ import annotations

import glob
from pathlib import Path

import pytest

import hrseg
from hrseg.errors import ConfigError
from hrseg.models.detection import check_model_options
from hrseg.tasks.common import build_from_config
from hrseg.tasks.detection import load_det_config
from hrseg.tasks.multi import load_multi_config

REPO = Path(__file__).resolve().parents[1]
FASTER, FCOS = "det_fasterrcnn_hrnetv2p_w18_small_v1", "det_fcos_hrnetv2p_w18_small_v1"
MASK, MULTI = "det_maskrcnn_hrnetv2p_w18_small_v1", "multi_hrnetv2p_w18_small_v1"
SMALL = dict(num_classes=3, min_size=64, max_size=64, out_channels=32)


@pytest.mark.parametrize("name, key, close", [
    (FASTER, "nms", "box_nms_thresh"),
    (FCOS, "box_score_thresh", "score_thresh"),  # Faster R-CNN's key on FCOS
    (FCOS, "box_nms_thresh", "nms_thresh"),
    (MASK, "mask_chanels", "mask_channels"),
    (MASK, "box_nms_tresh", "box_nms_thresh"),
    (MULTI, "rpn_post_nms_top_n_tst", "rpn_post_nms_top_n_test"),
    (MULTI, "score_thresh", "box_score_thresh"),  # FCOS's key on an R-CNN
])
def test_an_unknown_option_names_the_model_the_key_and_the_closest(name: str, key: str, close: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: unknown model option '{key}'; did you mean .*\b{close}\b") as e:
        hrseg.build_model(name, **{key: 0.1})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, key, value, expected", [
    (FASTER, "box_detections_per_img", -1, "a whole number >= 1"),
    (FASTER, "rpn_nms_thresh", 1.5, r"a number in \[0, 1\]"),
    (FASTER, "rpn_pre_nms_top_n_test", 2.0, "a whole number >= 1"),  # counts are not rounded
    (FASTER, "box_score_thresh", True, r"a number in \[0, 1\]"),
    (FCOS, "score_thresh", -0.1, r"a number in \[0, 1\]"),
    (FCOS, "topk_candidates", 0, "a whole number >= 1"),
    (FCOS, "min_size", 0, "a whole number >= 1 or a list of them"),
    (MASK, "max_size", -5, "a whole number >= 1"),
    (MASK, "image_std", [0.0, 1.0, 1.0], "None or three numbers > 0"),
    (MULTI, "box_positive_fraction", 2, r"a number in \[0, 1\]"),
])
def test_a_value_out_of_range_is_one_error_naming_the_key(name: str, key: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: model option '{key}': expected {expected}, got ") as e:
        hrseg.build_model(name, **{key: value})
    assert "\n" not in str(e.value)


def test_each_detector_takes_its_own_torchvision_keys_and_not_the_others() -> None:
    fcos = hrseg.build_model(FCOS, score_thresh=0.3, nms_thresh=0.4, detections_per_img=7, topk_candidates=50,
                             center_sampling_radius=0.0, **SMALL)
    assert (fcos.score_thresh, fcos.nms_thresh, fcos.detections_per_img, fcos.topk_candidates) == (0.3, 0.4, 7, 50)
    assert fcos.center_sampling_radius == 0.0
    faster = hrseg.build_model(FASTER, box_score_thresh=0.3, box_nms_thresh=0.4, box_detections_per_img=7,
                               min_size=[64, 96], max_size=96, num_classes=3, out_channels=32)
    heads = faster.roi_heads
    assert (heads.score_thresh, heads.nms_thresh, heads.detections_per_img) == (0.3, 0.4, 7)
    assert faster.transform.min_size == (64, 96)
    with pytest.raises(ConfigError, match="unknown model option 'detections_per_img'"):
        hrseg.build_model(FASTER, detections_per_img=7, **SMALL)
    with pytest.raises(ConfigError, match="unknown model option 'box_detections_per_img'"):
        hrseg.build_model(FCOS, box_detections_per_img=7, **SMALL)


def test_the_builders_check_when_called_directly() -> None:
    from hrseg.models.detection import build_fcos
    from hrseg.models.mask_rcnn import build_mask_rcnn

    with pytest.raises(ConfigError, match=r"^det_fcos_hrnetv2p_w18_small_v1: unknown model option 'nms'"):
        build_fcos("hrnet_w18_small_v1", nms=0.1)
    with pytest.raises(ConfigError, match=r"^det_maskrcnn_hrnetv2p_w18_small_v1: model option 'num_classes'"):
        build_mask_rcnn("hrnet_w18_small_v1", 0)


def test_a_config_model_section_is_checked_as_the_builder_would() -> None:
    # the config's check (hrseg train --dry-run, every load) says it before anything is built
    with pytest.raises(ConfigError, match="det_fasterrcnn_hrnetv2p_w18_small_v1: unknown model option 'nms'"):
        load_det_config("mini_fasterrcnn", ["model.nms=0.1"])
    section = {**load_det_config("mini_fasterrcnn")["model"], "nms": 0.1}
    with pytest.raises(ConfigError, match="unknown model option 'nms'"):
        build_from_config(section)
    section = {"name": "det_fcos_hrnetv2p_w32", "pretrained": "imagenet", "box_nms_thresh": 0.01}
    with pytest.raises(ConfigError, match="unknown model option 'box_nms_thresh'; did you mean nms_thresh"):
        check_model_options(section["name"], section)
    check_model_options("pose_hrnet_w32", {"anything": 1})  # not a detector: its builder's signature decides
    check_model_options(section["name"], {"name": section["name"], "pretrained": "imagenet", "nms_thresh": 0.01})


@pytest.mark.parametrize("path", sorted(glob.glob(str(REPO / "configs/det/*.py")) + glob.glob(
    str(REPO / "configs/multi/*.py")) + glob.glob(str(REPO / "configs/models/det_*.py"))))
def test_the_shipped_detector_configs_pass(path: str) -> None:
    cfg = (load_multi_config if "/multi/" in path else load_det_config)(path)
    check_model_options(cfg["model"]["name"], cfg["model"])
