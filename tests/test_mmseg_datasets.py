"""mmsegmentation's ADE20K, PASCAL VOC 2012 (+ SBD) and PASCAL-Context 60 files: the class tables and
palettes against mmsegmentation's, the two datasets in their released layouts, the keep-ratio test
resize of mmsegmentation's ADE20K / VOC configs number for number, and a file of theirs by name through
``hrseg test seg`` and the predictor."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import hrseg
from hrseg.commands import test_seg
from hrseg.data.seg.datasets import ADE20KDataset, VOCDataset
from hrseg.errors import DataError
from hrseg.inference.segmentation import predict_scores
from hrseg.meta.classes import (ADE20K_CLASSES, ADE20K_PALETTE, PASCAL_CONTEXT_60_CLASSES, PASCAL_CONTEXT_60_PALETTE,
                                VOC_CLASSES, VOC_PALETTE, voc_colormap)
from hrseg.tasks.segmentation import TASK
from hrseg.utils.image_io import read_image
from hrseg.weights import get_weights
from test_seg_protocols import Tiny, _normalize

# mmseg/datasets/voc.py (VOCDataset.convert_to_color), transcribed
MMSEG_VOC_COLOURS = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128],
                     [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 0, 128],
                     [192, 0, 128], [64, 128, 128], [192, 128, 128], [0, 64, 0], [128, 64, 0], [0, 192, 0],
                     [128, 192, 0], [0, 64, 128]]


def test_the_class_tables_are_mmsegmentations():
    """ADE20K's 150 names (mmseg's, 'bed ' without its trailing space) and palette, whose first 60 colours
    are PASCAL-Context's; VOC's 21 names and the development kit's colour map, mmseg's colours."""
    assert len(ADE20K_CLASSES) == len(set(ADE20K_CLASSES)) == 150 and ADE20K_PALETTE.shape == (150, 3)
    assert ADE20K_CLASSES[:8] == ("wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed")
    assert ADE20K_CLASSES[-3:] == ("glass", "clock", "flag")
    assert ADE20K_PALETTE[0].tolist() == [120, 120, 120] and ADE20K_PALETTE[-1].tolist() == [92, 0, 255]
    np.testing.assert_array_equal(PASCAL_CONTEXT_60_PALETTE, ADE20K_PALETTE[:60])
    assert len(PASCAL_CONTEXT_60_CLASSES) == 60
    assert VOC_CLASSES[0] == "background" and VOC_CLASSES[15] == "person" and len(VOC_CLASSES) == 21
    assert VOC_PALETTE.tolist() == MMSEG_VOC_COLOURS
    assert voc_colormap()[255].tolist() == [224, 224, 192]  # the outline colour of VOC's label PNGs


def _write_palette_png(path: Path, label: np.ndarray) -> None:
    """A label as VOC ships them: palette mode, the development kit's colours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(label.astype(np.uint8), mode="P")
    image.putpalette(voc_colormap().ravel().tolist())
    image.save(path)


def _ade_root(tmp_path: Path, labels: dict[str, np.ndarray], split: str = "validation") -> Path:
    root = tmp_path / "ADEChallengeData2016"
    for stem, label in labels.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / split / f"{stem}.jpg"), np.full((*label.shape, 3), 90, np.uint8))
        (root / "annotations" / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "annotations" / split / f"{stem}.png"), label.astype(np.uint8))
    return root


def test_ade20k_ignores_other_and_shifts_the_classes(tmp_path: Path):
    raw = np.array([[0, 1, 2, 150], [255, 75, 0, 3]], np.uint8)
    root = _ade_root(tmp_path, {"ADE_val_00000002": raw, "ADE_val_00000001": raw[::-1].copy()})
    dataset = ADE20KDataset(root, "validation")
    assert [s[0].name for s in dataset.samples] == ["ADE_val_00000001.jpg", "ADE_val_00000002.jpg"]
    assert dataset.classes == ADE20K_CLASSES and dataset.num_classes == 150
    _, label, _ = dataset[1]
    np.testing.assert_array_equal(label, [[255, 0, 1, 149], [255, 74, 255, 2]])
    bad = _ade_root(tmp_path / "bad", {"ADE_val_00000003": np.array([[151, 0]], np.uint8)})
    with pytest.raises(DataError, match=r"ADE_val_00000003.png: label values \[151\]"):
        ADE20KDataset(bad, "validation")[0]
    (bad / "annotations" / "validation" / "ADE_val_00000003.png").unlink()
    with pytest.raises(DataError, match="ADE_val_00000003.png: label file not found"):
        ADE20KDataset(bad, "validation")
    with pytest.raises(DataError, match="images/training: ADE20K 'training' image directory not found"):
        ADE20KDataset(bad, "training")


def _voc_root(tmp_path: Path) -> Path:
    root = tmp_path / "VOCdevkit" / "VOC2012"
    label = np.array([[0, 15, 15, 255], [0, 20, 1, 255]], np.uint8)
    for stem in ("2007_000032", "2007_000039", "2008_000008"):
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "JPEGImages" / f"{stem}.jpg"), np.full((2, 4, 3), 30, np.uint8))
        _write_palette_png(root / "SegmentationClass" / f"{stem}.png", label)
        _write_palette_png(root / "SegmentationClassAug" / f"{stem}.png", np.where(label == 255, 0, label))
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("2007_000032\n")
    (lists / "aug.txt").write_text("2007_000032\n2008_000008\n")
    (lists / "val.txt").write_text("2007_000039\n")
    return root


def test_voc_reads_palette_pngs_and_joins_the_augmented_set(tmp_path: Path):
    """The palette PNG's indices (not its colours), 255 ignored; ``train+aug`` is both lists, an id in both
    read from SegmentationClass (its outlines ignored), the others from SegmentationClassAug."""
    root = _voc_root(tmp_path)
    val = VOCDataset(root, "val")
    assert len(val) == 1 and val.classes == VOC_CLASSES
    np.testing.assert_array_equal(val[0][1], [[0, 15, 15, 255], [0, 20, 1, 255]])
    train = VOCDataset(root, "train+aug")
    assert [(s[0].stem, s[1].parent.name) for s in train.samples] == [
        ("2007_000032", "SegmentationClass"), ("2008_000008", "SegmentationClassAug")]
    np.testing.assert_array_equal(train[1][1], [[0, 15, 15, 0], [0, 20, 1, 0]])
    _write_palette_png(root / "SegmentationClass" / "2007_000039.png", np.array([[21, 0, 0, 0], [0, 0, 0, 0]]))
    with pytest.raises(DataError, match=r"2007_000039.png: label values \[21\]"):
        VOCDataset(root, "val")[0]
    with pytest.raises(DataError, match="trainval.txt: split list not found"):
        VOCDataset(root, "trainval")


def mmseg_whole(model, image_u8: np.ndarray, img_scale: tuple[int, int]) -> torch.Tensor:
    """mmsegmentation's ADE20K / VOC test: Resize(img_scale, keep_ratio=True) (mmcv imrescale: the factor
    min(max(img_scale) / long edge, min(img_scale) / short edge)), EncoderDecoder.whole_inference
    (encode_decode: the logits resized to the resized image), then to the image (align_corners False)."""
    h, w = image_u8.shape[:2]
    factor = min(max(img_scale) / max(h, w), min(img_scale) / min(h, w))
    img = _normalize(cv2.resize(image_u8, (int(w * factor + 0.5), int(h * factor + 0.5)),
                                interpolation=cv2.INTER_LINEAR))
    logits = F.interpolate(model(img), size=img.shape[2:], mode="bilinear", align_corners=False)
    return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)[0]


@pytest.mark.parametrize("shape", [(375, 500), (300, 1500), (96, 64)])  # short side 512; long side 2048 wins; up
def test_the_ade20k_and_voc_test_setting_is_mmsegmentations(shape):
    for name in ("seg_hrnetv2_w48.mmseg_ade20k_160k", "seg_hrnetv2_ocr_w18.mmseg_voc12aug_40k"):
        test = TASK.config_for_record(get_weights(name), None)["test"]
        assert (test["mode"], test["base_size"], test["short_size"], test["scales"], test["flip"]) == (
            "whole", 2048, 512, [1.0], False)
    image = np.random.default_rng(3).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    model = Tiny(k=6).eval()
    with torch.no_grad():
        ours = predict_scores(model, image, {**test, "align_corners": False})
        theirs = mmseg_whole(model, image, (2048, 512))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, kind, root, splits, classes", [
    ("seg_hrnetv2_w48.mmseg_ade20k_160k", "ade20k", "datasets/ADEChallengeData2016", ("training", "validation"),
     ADE20K_CLASSES),
    ("seg_hrnetv2_w18_small_v2.mmseg_voc12aug_20k", "voc", "datasets/VOCdevkit/VOC2012", ("train+aug", "val"),
     VOC_CLASSES),
    ("seg_hrnetv2_w48.mmseg_pascal_context_60_80k", "pascal_context", "datasets/VOCdevkit/VOC2010",
     ("train", "val"), PASCAL_CONTEXT_60_CLASSES),
])
def test_a_records_config_is_its_datasets(name, kind, root, splits, classes):
    """A file's config: its dataset in mmsegmentation's layout and splits, its classes, its crop."""
    cfg = TASK.config_for_record(get_weights(name), None)
    data = cfg["data"]
    assert (data["type"], data["root"], (data["train_split"], data["val_split"])) == (kind, root, splits)
    assert cfg["model"]["num_classes"] == len(classes)
    assert tuple(TASK.model_meta(cfg)["classes"]) == classes


def test_short_names_find_the_best_files():
    assert get_weights("ade20k_mmseg", "seg_hrnetv2_w48").name == "seg_hrnetv2_w48.mmseg_ade20k_160k"
    assert get_weights("voc", "seg_hrnetv2_ocr_w48").name == "seg_hrnetv2_ocr_w48.mmseg_voc12aug_20k"
    assert get_weights("pascal_context_60", "seg_hrnetv2_w48").name == "seg_hrnetv2_w48.mmseg_pascal_context_60_80k"


def test_an_ade20k_file_by_name_through_hrseg_test_and_the_predictor(publish_as, tmp_path: Path, shared_data: Path,
                                                                     capsys):
    """``hrseg test seg --weights seg_hrnetv2_w18_small_v2.mmseg_ade20k_80k`` (a small 150-class model
    served under that record's name) on an ADE20K-layout folder: the mIoU table names ADE20K's classes;
    the predictor colours with ADE20K's palette."""
    record = publish_as(hrseg.build_model("seg_hrnetv2_w18_small_v2", num_classes=150),
                        "seg_hrnetv2_w18_small_v2.mmseg_ade20k_80k", "seg_hrnetv2_w18_small_v2")
    root = _ade_root(tmp_path, {"ADE_val_00000001": np.tile(np.arange(0, 151, 10, dtype=np.uint8), (32, 3))})
    args = ["--weights", record.name, "--out-dir", str(tmp_path / "test"), "--backend", "torch", "--cfg-options",
            f"data.root={root}", "data.num_workers=0"]
    assert test_seg.main(args) == 0
    assert "windowpane" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "test" / "metrics_test.json").read_text())
    assert 0.0 <= metrics["mIoU"] <= 1.0
    model, cfg = TASK.load_model(record.name, cfg_options=["test.backend=torch"])
    predictor = TASK.predictor(model, cfg)
    assert predictor.classes == list(ADE20K_CLASSES)
    np.testing.assert_array_equal(predictor.colours, ADE20K_PALETTE)
    image = read_image(shared_data / "images" / "zidane.jpg")
    labels = predictor.predict(image)
    assert labels.shape == image.shape[:2] and labels.max() < 150
