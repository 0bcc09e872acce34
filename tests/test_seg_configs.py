"""Segmentation configs: the official recipes load and build; a folder dataset trains an OCR model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hrseg
from hrseg.errors import ConfigError
from hrseg.tasks.segmentation import build_dataset, build_loss, class_names, load_seg_config, train

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "seg").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_loads_and_builds(path: Path) -> None:
    cfg = load_seg_config(path)
    with torch.device("meta"):
        # model.pretrained (the ImageNet backbone) would download: tests/test_weights.py checks it names a record.
        model = hrseg.build_model(cfg["model"]["name"], **{k: v for k, v in cfg["model"].items()
                                                           if k not in ("name", "pretrained")})
    assert model.num_classes == len(class_names(cfg))
    crit = build_loss(cfg["loss"], model)
    assert crit.weights == ((1.0, 0.4) if "ocr" in cfg["model"]["name"] else (1.0,))


def test_official_recipes() -> None:
    root = CONFIGS[0].parent
    city = load_seg_config(root / "hrnetv2_w48_cityscapes_1024x512.py")
    assert city["data"]["crop_size"] == [512, 1024] and city["data"]["base_size"] == 2048
    assert city["optimizer"]["type"] == "SGD" and city["optimizer"]["lr"] == 0.01
    assert city["schedule"]["type"] == "poly" and city["schedule"]["power"] == 0.9
    assert len(city["loss"]["class_weight"]) == 19 and not city["loss"]["ohem"]
    ohem = load_seg_config(root / "hrnetv2_w48_cityscapes_1024x512_ohem.py")["loss"]
    assert ohem["ohem"] and ohem["ohem_thresh"] == 0.9 and ohem["ohem_min_kept"] == 131072
    ctx = load_seg_config(root / "ocr_hrnetv2_w48_pascal_context59_520x520.py")
    assert ctx["data"]["crop_size"] == [520, 520] and ctx["optimizer"]["lr"] == 1e-3
    # the official OCR code runs with MODEL.ALIGN_CORNERS True (lib/config/default.py)
    assert ctx["model"] == {"name": "seg_hrnetv2_ocr_w48", "num_classes": 59, "align_corners": True, "norm": "BN",
                            "pretrained": "hrnet_w48.msra_imagenet_v2"}
    assert class_names(load_seg_config(root / "hrnetv2_w48_pascal_context60_520x520.py"))[0] == "background"
    with pytest.raises(ConfigError, match="loss.ohem_thres"):
        load_seg_config(root / "hrnetv2_w48_cityscapes_1024x512.py", ["loss.ohem_thres=0.5"])


def _folder(root: Path, n: int = 4) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (root / "img" / split).mkdir(parents=True)
        (root / "mask" / split).mkdir(parents=True)
        for i in range(n):
            mask = np.zeros((32, 48), np.uint8)
            mask[:, 24:] = 1
            mask[:4] = 255
            image = np.where(mask[..., None] == 1, 200, 40).astype(np.uint8) + rng.integers(0, 20, (32, 48, 3),
                                                                                           dtype=np.uint8)
            Image.fromarray(image).save(root / "img" / split / f"{i}.png")
            Image.fromarray(mask).save(root / "mask" / split / f"{i}.png")


def test_folder_dataset_trains_an_ocr_model(tmp_path: Path) -> None:
    _folder(tmp_path / "data")
    cfg = load_seg_config(None, {
        "model": {"name": "seg_hrnetv2_ocr_w18_small_v1", "num_classes": 2},
        "data.type": "folder", "data.root": str(tmp_path / "data"), "data.classes": ["dark", "bright"],
        "data.train": {"images": "img/train", "masks": "mask/train"},
        "data.val": {"images": "img/val", "masks": "mask/val"},
        "data.crop_size": [32, 48], "data.base_size": 48, "data.batch_size": 2, "data.num_workers": 0,
        "loss.ohem": True, "loss.ohem_min_kept": 100,
        "optimizer.type": "Adam", "optimizer.lr": 2e-3, "train.max_epochs": 2, "train.eval_interval": 2,
    })
    cfg["work_dir"] = str(tmp_path / "work")
    assert build_dataset(cfg, "train").num_classes == 2
    metrics = train(cfg)
    assert set(metrics) == {"mIoU", "aAcc", "mAcc"} and 0.0 <= metrics["mIoU"] <= 1.0
    log = (tmp_path / "work" / "log.csv").read_text()
    assert "loss_aux" in log  # OCR's auxiliary loss is trained and logged
    with pytest.raises(ConfigError, match="num_classes"):
        build_dataset({**cfg, "model": {"name": "seg_hrnetv2_w18_small_v1", "num_classes": 3}}, "val")


def test_a_crop_batchnorm_cannot_train_on_is_said_before_training() -> None:
    """A 16x32 crop in batches of 1 ended in torch's "Expected more than 1 value per channel"
    traceback at the first step: HRNet's stride-32 branch sees one value per channel."""
    with pytest.raises(ConfigError, match=r"data.crop_size \[16, 32\] with data.batch_size 1: .* BatchNorm"):
        load_seg_config("configs/seg/synthetic_mini.py", ["data.crop_size=[16,32]", "data.batch_size=1"])
    assert load_seg_config("configs/seg/synthetic_mini.py", ["data.crop_size=[16,64]", "data.batch_size=1"])
    assert load_seg_config("configs/seg/synthetic_mini.py", ["data.crop_size=[16,32]", "data.batch_size=2"])
