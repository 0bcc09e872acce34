"""Segmentation end to end: a short training run on synthetic streets reaches an mIoU floor, and
the tools (test_seg, infer_seg) run on the real Cityscapes frame and real photographs."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import python_path
import hrseg
from hrseg.meta.classes import CITYSCAPES_PALETTE, LIP_PALETTE, PASCAL_CONTEXT_59_PALETTE
from hrseg.errors import CheckpointError, DataError
from hrseg.tasks.segmentation import (
    TASK, build_dataset, build_seg_model, evaluate_dataset, load_seg_config, train,
)

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "configs" / "seg" / "synthetic_mini.py"
FRAME = "frankfurt_000000_000294"
# An untrained model scores about 0.01 mIoU here (measured, and checked in the test); the trained
# one 0.38 after this short run (48 iterations, about 15 s on one core).
MIOU_FLOOR = 0.25


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small model trained for a few epochs on a tiny synthetic street split (CPU)."""
    tmp = tmp_path_factory.mktemp("seg_run")
    cfg = load_seg_config(MINI, {
        "data.root": str(tmp / "streets"), "data.synthetic": dict(num_train=48, num_val=12, size=[64, 128], seed=0),
        "data.crop_size": [64, 128], "data.base_size": 128, "data.batch_size": 8,
        "train.max_epochs": 10, "train.eval_interval": 10, "schedule.warmup_iters": 6, "optimizer.lr": 0.05,
    })
    cfg["work_dir"] = str(tmp / "work")
    torch.manual_seed(0)
    untrained = evaluate_dataset(build_seg_model(cfg["model"]), build_dataset(cfg, "val"), cfg["test"],
                                 progress=False)[0]["mIoU"]
    metrics = train(cfg)
    return {"cfg": cfg, "metrics": metrics, "untrained": untrained, "weights": Path(cfg["work_dir"]) / "best.pth"}


@pytest.mark.slow
def test_short_training_reaches_the_miou_floor(trained: dict) -> None:
    assert trained["untrained"] < 0.1 < MIOU_FLOOR
    assert trained["metrics"]["mIoU"] >= MIOU_FLOOR, trained["metrics"]
    assert trained["weights"].is_file()
    saved = json.loads((Path(trained["cfg"]["work_dir"]) / "metrics_val_per_class.json").read_text())
    assert saved["mIoU"] == pytest.approx(trained["metrics"]["mIoU"]) and len(saved["iou"]) == 19


@pytest.mark.slow
def test_test_seg_on_the_real_frame(trained: dict, shared_data: Path, tmp_path: Path, capsys) -> None:
    root = shared_data / "seg_mini" / "cityscapes"
    # --backend optimized: the path evaluate_dataset takes below, so the numbers are the same to the bit
    code = _tool("test_seg").main([str(MINI), "--weights", str(trained["weights"]), "--data-root", str(root),
                                   "--out-dir", str(tmp_path), "--backend", "optimized"])
    out = capsys.readouterr().out
    assert code == 0 and "mIoU" in out and "road" in out and "bicycle" in out
    metrics = json.loads((tmp_path / "metrics_test.json").read_text())
    assert metrics["num_images"] == 1 and 0.0 <= metrics["mIoU"] <= 1.0 and len(metrics["iou"]) == 19
    run = metrics["run"]  # how it was measured travels with the figures
    assert run["weights"] == str(trained["weights"]) and run["test"]["backend"] == "optimized"
    assert run["model"] == "seg_hrnetv2_w18_small_v1" and run["test"]["mode"] == "whole"
    assert "-core " in run["machine"] and run["command"] and run["date"].endswith(" UTC")  # where it was measured
    # the same number as the evaluation path computes directly
    cfg = load_seg_config(MINI, {"data.root": str(root), "data.synthetic": None})
    model = hrseg.build_model("seg_hrnetv2_w18_small_v1")
    hrseg.load_checkpoint(model, trained["weights"])
    direct = evaluate_dataset(model, build_dataset(cfg, "val"), cfg["test"], progress=False)[0]
    assert direct["mIoU"] == pytest.approx(metrics["mIoU"])


def _check_outputs(out: Path, stem: str, size_hw: tuple[int, int], palette: np.ndarray, num_classes: int) -> None:
    labels = cv2.imread(str(out / f"{stem}_labels.png"), cv2.IMREAD_UNCHANGED)
    color = cv2.imread(str(out / f"{stem}_color.png"))[..., ::-1]
    over = cv2.imread(str(out / f"{stem}_overlay.png"))[..., ::-1]
    assert labels.shape == size_hw and color.shape == over.shape == (*size_hw, 3)
    assert labels.max() < num_classes
    np.testing.assert_array_equal(color, palette[labels])  # the mask is the palette of the label map
    doc = json.loads((out / f"{stem}_seg.json").read_text())  # the classes present, as the service answers
    counts = np.bincount(labels.ravel(), minlength=num_classes)
    assert (doc["height"], doc["width"]) == size_hw
    assert {c["id"]: c["pixels"] for c in doc["classes"]} == {int(i): int(counts[i]) for i in np.flatnonzero(counts)}


@pytest.mark.slow
def test_infer_seg_on_real_photographs_and_the_frame(trained: dict, shared_data: Path, tmp_path: Path,
                                                     capsys) -> None:
    photos = [shared_data / "images" / n for n in ("bus.jpg", "zidane.jpg", "astronaut.png")]
    frame = shared_data / "seg_mini" / "cityscapes" / "leftImg8bit" / "val" / "frankfurt" / f"{FRAME}_leftImg8bit.png"
    out = tmp_path / "out"
    assert _tool("infer_seg").main([*map(str, photos), str(frame), "--weights", str(trained["weights"]),
                                    "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for path in [*photos, frame]:
        h, w = Image.open(path).size[::-1]
        _check_outputs(out, path.stem, (h, w), CITYSCAPES_PALETTE, 19)
        assert str(out / f"{path.stem}_overlay.png") in printed
    assert len(list(out.iterdir())) == 16


@pytest.mark.slow
def test_odd_inputs_and_bad_files(trained: dict, shared_data: Path, tmp_path: Path) -> None:
    rgb = np.array(Image.open(shared_data / "images" / "astronaut.png").convert("RGB").resize((96, 64)))
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rgb[..., 0]).save(src / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(src / "rgba.png")
    cv2.imwrite(str(src / "deep.png"), rgb[..., ::-1].astype(np.uint16) * 257)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise: 64 wide, 96 high
    Image.fromarray(rgb).save(src / "rotated.jpg", exif=exif)
    infer = _tool("infer_seg").main
    out = tmp_path / "out"
    assert infer([str(src), "--weights", str(trained["weights"]), "--out", str(out)]) == 0
    for stem, size in (("gray", (64, 96)), ("rgba", (64, 96)), ("deep", (64, 96)), ("rotated", (96, 64))):
        _check_outputs(out, stem, size, CITYSCAPES_PALETTE, 19)
    # a corrupt or missing file: one error naming it, nothing written at all
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for bad in (src / "broken.jpg", tmp_path / "missing.png"):
        fresh = tmp_path / f"out_{bad.stem}"
        with pytest.raises(DataError, match=bad.name):
            infer([str(src / "gray.png"), str(bad), "--weights", str(trained["weights"]), "--out", str(fresh)])
        assert not fresh.exists()


def test_cli_without_weights_says_how_to_get_them(tmp_path: Path, shared_data: Path) -> None:
    env = {**os.environ, "PYTHONPATH": python_path(str(REPO)), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(REPO / "tools" / "infer_seg.py"),
                          str(shared_data / "images" / "bus.jpg")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "--weights" in run.stderr and "hrseg train seg" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_official_ocr_checkpoint_works_with_infer_seg(official_state, shared_data: Path, tmp_path: Path) -> None:
    """An official file is known by its published name (its record gives model, classes and
    align_corners); under another name it needs the config that names its model."""
    frame = shared_data / "seg_mini" / "cityscapes" / "leftImg8bit" / "val" / "frankfurt" / f"{FRAME}_leftImg8bit.png"
    state = official_state("seg_hrnet_w48_ocr_cityscapes_19.json")
    published = tmp_path / "hrnet_ocr_cs_8162_torch11.pth"  # the file name of the official release
    torch.save(state, published)
    renamed = tmp_path / "ocr.pth"
    torch.save(state, renamed)
    out = tmp_path / "out"
    # --backend optimized: the layout is under test here, not the export of a W48 (seconds)
    assert _tool("infer_seg").main([str(frame), "--weights", str(published), "--out", str(out),
                                    "--backend", "optimized"]) == 0
    _check_outputs(out, frame.stem, (128, 256), CITYSCAPES_PALETTE, 19)
    with pytest.raises(CheckpointError, match="ocr.pth: the file records no model"):
        TASK.load_model(renamed)
    config = REPO / "configs" / "seg" / "ocr_hrnetv2_w48_cityscapes_1024x512.py"
    model, cfg = TASK.load_model(renamed, TASK.load_config(config))
    assert cfg["model"]["name"] == "seg_hrnetv2_ocr_w48" and model.meta["classes"][0] == "road"


@pytest.mark.slow
def test_official_lip_file_parses_a_photo_by_its_published_name(official_state, shared_data: Path,
                                                               tmp_path: Path) -> None:
    """The official LIP file (saved by torch 0.4: the legacy format, keys under ``model.`` beside the
    loss's) is known by its release name: 20 LIP classes, their palette, the official LIP test."""
    state = {f"model.{k}": v for k, v in official_state("seg_hrnet_w48_cityscapes_19.json").items()}
    state["model.last_layer.3.weight"] = torch.randn(20, 720, 1, 1) * 0.05
    state["model.last_layer.3.bias"] = torch.zeros(20)
    state["loss.criterion.weight"] = torch.ones(20)
    published = tmp_path / "hrnet_lip_5583_torch04.pth"
    torch.save(state, published, _use_new_zipfile_serialization=False)
    model, cfg = TASK.load_model(published)
    assert (cfg["model"]["name"], cfg["data"]["type"], cfg["test"]["protocol_dataset"]) == ("seg_hrnetv2_w48", "lip",
                                                                                            "lip")
    assert model.meta["classes"][:3] == ["background", "hat", "hair"] and not model.align_corners
    torch.testing.assert_close(model.head.last_layer[3].weight, state["model.last_layer.3.weight"])
    out = tmp_path / "out"
    photo = shared_data / "images" / "zidane.jpg"
    assert _tool("infer_seg").main([str(photo), "--weights", str(published), "--out", str(out),
                                    "--backend", "optimized"]) == 0
    _check_outputs(out, photo.stem, cv2.imread(str(photo)).shape[:2], LIP_PALETTE, 20)


def test_pascal_context_palette() -> None:
    from hrseg.visualization.segmentation import palette_for

    assert np.array_equal(palette_for("pascal_context", 59), PASCAL_CONTEXT_59_PALETTE)


def test_progressive_learning_grows_the_crops(tmp_path: Path) -> None:
    """progressive.enabled: the crops grow in stages (multiples of 32 up to data.crop_size), the
    training runs with Mixup and RandAugment switched on, and the run still evaluates."""
    seen: list[tuple[int, int]] = []
    cfg = load_seg_config(MINI, {
        "data.root": str(tmp_path / "streets"), "data.synthetic": dict(num_train=16, num_val=4, size=[64, 128], seed=0),
        "data.crop_size": [64, 128], "data.base_size": 128, "data.batch_size": 8,
        "train.max_epochs": 4, "train.eval_interval": 4, "schedule.warmup_iters": 0,
        "progressive.enabled": True, "progressive.num_stages": 2, "progressive.min_scale": 0.5,
        "progressive.mixup": [0.0, 0.2], "progressive.randaugment": [0, 9],
    })
    cfg["work_dir"] = str(tmp_path / "work")
    import hrseg.tasks.segmentation as seg

    def spy(batch):
        out = seg.seg_collate(batch)
        seen.append(tuple(out["image"].shape[-2:]))
        return out

    seg.TASK.collate = spy  # the task's collate function, on this instance only
    try:
        metrics = train(cfg)
    finally:
        del seg.TASK.collate
    assert sorted(set(seen)) == [(32, 64), (64, 128)]
    assert seen[0] == (32, 64) and seen[-1] == (64, 128)
    assert 0.0 <= metrics["mIoU"] <= 1.0
