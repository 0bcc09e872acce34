"""The shipped recipes against the official ones (issue 11).

Every field of hrseg/recipes/official.py's tables must equal its official value in the config as loaded;
docs/recipes.md must be what hrseg.recipes.render() writes; the figures a reader checks first
are pinned here once more, written down from the official files named beside them.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import hrseg
from hrseg.cli import train_tool
from hrseg.recipes import CONFIG_DIR, OFFICIAL, describe, field, load_recipe, render, same
from hrseg.tasks import segmentation

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recipes() -> dict[str, dict]:
    return {name: load_recipe(CONFIG_DIR / config, task) for name, (task, config, _) in OFFICIAL.items()}


def test_docs_page_is_generated_from_the_configs() -> None:
    page = (REPO / "docs" / "recipes.md").read_text()
    assert page == render() + "\n", "docs/recipes.md is stale: python -m hrseg.recipes > docs/recipes.md"


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_every_field_is_official(recipes: dict, name: str) -> None:
    _, _, (_, rows) = OFFICIAL[name]
    departed = {path: (field(recipes[name], path), official) for path, official, _ in rows
                if not same(field(recipes[name], path), official)}
    assert not departed, f"{name}: (hrseg, official) {departed}"


# -- the headline figures, from the official files ---------------------------------------------
def test_pose_w32(recipes: dict) -> None:
    # deep-high-resolution-net.pytorch experiments/coco/hrnet/w32_256x192_adam_lr1e-3.yaml, tools/train.py
    cfg = recipes["pose W32 256x192"]
    assert (cfg["optimizer"]["type"], cfg["optimizer"]["lr"], cfg["optimizer"]["reference_batch"]) == ("Adam", 1e-3, 128)
    assert cfg["schedule"]["milestones"] == [170, 200] and cfg["train"]["max_epochs"] == 210
    assert cfg["schedule"]["step_at_start"] and cfg["train"]["eval_interval"] == 1
    assert cfg["test"]["train_val_boxes"] == "gt"


def test_pose_w48_384_batch(recipes: dict) -> None:
    # experiments/coco/hrnet/w48_384x288_adam_lr1e-3.yaml: TRAIN.BATCH_SIZE_PER_GPU 24 on GPUS (0,1,2,3)
    cfg = recipes["pose W48 384x288"]
    assert (cfg["data"]["batch_size"], cfg["optimizer"]["reference_batch"]) == (24, 96)


def test_cityscapes_w48(recipes: dict) -> None:
    # HRNet-Semantic-Segmentation experiments/cityscapes/seg_hrnet_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml
    cfg = recipes["Cityscapes W48"]
    opt = cfg["optimizer"]
    assert (opt["type"], opt["lr"], opt["momentum"], opt["weight_decay"], opt["reference_batch"]) == \
        ("SGD", 0.01, 0.9, 5e-4, 12)
    assert (cfg["schedule"]["type"], cfg["schedule"]["power"], cfg["train"]["max_epochs"]) == ("poly", 0.9, 484)
    assert cfg["data"]["crop_size"] == [512, 1024] and cfg["train"]["sync_bn"]
    assert cfg["loss"]["class_weight"][0] == 0.8373 and cfg["loss"]["class_weight"][-1] == 1.0507  # cityscapes.py
    ohem = recipes["Cityscapes W48 OHEM"]["loss"]
    assert (ohem["ohem"], ohem["ohem_thresh"], ohem["ohem_min_kept"]) == (True, 0.9, 131072)


def test_ocr_align_corners(recipes: dict) -> None:
    # lib/config/default.py: _C.MODEL.ALIGN_CORNERS = True; the OCR YAMLs leave it
    for name in ("Cityscapes W48 + OCR", "PASCAL-Context 59 W48 + OCR"):
        assert recipes[name]["model"]["align_corners"] is True
        assert recipes[name]["test"]["align_corners"] is None  # the test follows the model (with_align_corners)
    assert recipes["Cityscapes W48"]["model"]["align_corners"] is False  # the W48 YAML: ALIGN_CORNERS: False
    with torch.device("meta"):
        assert hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1").align_corners is True  # official OCR checkpoints


def test_pascal_context_default_test_is_the_published_one(recipes: dict) -> None:
    # README: TEST.SCALE_LIST 0.5,0.75,1.0,1.25,1.5,1.75,2.0 TEST.FLIP_TEST True
    test = field(recipes["PASCAL-Context 59 W48"], "test")
    assert test["protocol"] == "official_ms" and test["flip"] is True
    assert test["scales"] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0] and test["crop_size"] == [520, 520]


def test_lip_is_the_official_protocol(recipes: dict) -> None:
    # lib/datasets/lip.py: flip, resize_image to the 473x473 crop, gen_sample (0.5 + randint(0, 11) / 10,
    # black padding); README: DATASET.TEST_SET list/lip/testvalList.txt TEST.FLIP_TEST True
    for name in ("LIP W48", "LIP W48 + OCR"):
        data, test = recipes[name]["data"], field(recipes[name], "test")
        assert (data["squash"], data["scale_range"], data["scale_step"], data["pad_value"]) == \
            (True, [0.5, 1.6], 0.1, [0, 0, 0])
        assert (test["protocol"], test["protocol_dataset"], test["scales"], test["flip"]) == \
            ("official", "lip", [1.0], True)
        assert test["crop_size"] == [473, 473] and test["base_size"] == 473


def test_detection_test_settings() -> None:
    # HRNet-Object-Detection configs/hrnet/faster_rcnn_hrnetv2p_w32_1x.py test_cfg.rpn: nms_pre 2000, max_num 2000
    model = hrseg.build_model("det_fasterrcnn_hrnetv2p_w18_small_v1", num_classes=3)
    assert model.rpn._pre_nms_top_n["testing"] == 2000 and model.rpn._post_nms_top_n["testing"] == 2000
    assert model.roi_heads.score_thresh == 0.05 and model.roi_heads.nms_thresh == 0.5


def test_fcos_grad_clip(recipes: dict) -> None:
    # mmdetection configs/fcos/fcos_r50_caffe_fpn_gn-head_1x_coco.py: grad_clip max_norm 35
    assert recipes["FCOS W32"]["train"]["grad_clip"] == 35.0


def test_seg_head_init_is_official() -> None:
    # seg_hrnet.py init_weights: conv weights N(0, 0.001); seg_hrnet_ocr.py skips 'cls', 'aux', 'ocr' modules
    torch.manual_seed(0)
    head = hrseg.build_model("seg_hrnetv2_w18_small_v1", num_classes=19).head.last_layer
    for conv in (head[0], head[3]):
        assert conv.weight.detach().std().item() == pytest.approx(0.001, rel=0.1)
    ocr = hrseg.build_model("seg_hrnetv2_ocr_w18_small_v1", num_classes=19).head
    assert ocr.cls_head.weight.detach().std().item() > 0.01  # PyTorch's default, as the official code


# -- --dry-run ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(OFFICIAL))
def test_dry_run_at_the_official_gpu_count_keeps_the_official_lr(recipes: dict, name: str) -> None:
    cfg = recipes[name]
    processes = cfg["optimizer"]["reference_batch"] // cfg["data"]["batch_size"]
    text = describe(cfg, processes)
    assert f"= {cfg['optimizer']['reference_batch']}\n" in text and "equals the recipe's reference batch" in text
    one = describe(cfg, 1)
    scaled = cfg["optimizer"]["lr"] / processes
    assert f"= {scaled:g}: linear scaling rule" in one


def test_train_tool_dry_run_prints_and_exits(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "4")

    def must_not_train(cfg: dict) -> None:
        raise AssertionError("--dry-run trained")

    config = CONFIG_DIR / "seg" / "hrnetv2_w48_cityscapes_1024x512_ohem.py"
    code = train_tool([str(config), "--dry-run"], "", config, segmentation.SEG_DEFAULTS, segmentation.OPEN_KEYS,
                      must_not_train)
    out = capsys.readouterr().out
    assert code == 0 and not any(tmp_path.iterdir())
    for text in ("type='SGD', lr=0.01", "momentum=0.9", "weight_decay=0.0005", "type='poly'", "power=0.9",
                 "max_epochs=484", "crop_size=[512, 1024]", "ohem=True", "ohem_thresh=0.9", "ohem_min_kept=131072",
                 "class_weight=[0.8373", "scale_range=[0.5, 2.1]", "scale_step=0.1",
                 "total batch: 3 per process x 4 process(es) = 12", "SyncBatchNorm", "protocol=None"):
        assert text in out, text
    assert math.isclose(float(out.split("lr ")[1].split(":")[0]), 0.01)
