"""The official HRNet-Semantic-Segmentation ADE20K and COCO-Stuff files: COCO-Stuff's 171 classes and the
official label mapping (lib/datasets/cocostuff.py, transcribed), the COCO-Stuff 10k lists the official code
reads, the records' configs and test settings, and a COCO-Stuff file by name through ``hrseg test seg`` and
the predictor. The test protocol itself (short side 520, stride-8 padding) is in tests/test_seg_protocols.py."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import hrseg
from hrseg.commands import test_seg
from hrseg.data.seg.datasets import CocoStuffDataset
from hrseg.errors import DataError
from hrseg.meta.classes import (ADE20K_CLASSES, COCO_STUFF_CLASSES, COCO_STUFF_PALETTE, IGNORE_INDEX,
                                coco_stuff_id_to_class)
from hrseg.tasks.segmentation import TASK
from hrseg.utils.image_io import read_image
from hrseg.weights import get_weights

# lib/datasets/cocostuff.py COCOStuff.mapping, transcribed: index i is the id that becomes class i - 1
OFFICIAL_MAPPING = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20,
                    21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39,
                    40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58,
                    59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77,
                    78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90, 92, 93, 94, 95, 96,
                    97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112,
                    113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128,
                    129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144,
                    145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160,
                    161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175, 176,
                    177, 178, 179, 180, 181, 182]


def official_encode(labelmap: np.ndarray) -> np.ndarray:
    """COCOStuff.encode_label then BaseDataset.reduce_zero_label on the uint8 label (254: the unused ids, which
    get_confusion_matrix never counts with 171 classes; 255 ignored)."""
    ret = np.ones_like(labelmap) * 255
    for idx, label in enumerate(OFFICIAL_MAPPING):
        ret[labelmap == label] = idx
    return np.array(ret) - 1


def test_the_classes_and_the_label_mapping_are_the_official_codes():
    assert len(COCO_STUFF_CLASSES) == len(set(COCO_STUFF_CLASSES)) == 171 and COCO_STUFF_PALETTE.shape == (171, 3)
    assert COCO_STUFF_CLASSES[:3] == ("person", "bicycle", "car") and COCO_STUFF_CLASSES[79] == "toothbrush"
    assert COCO_STUFF_CLASSES[80] == "banner" and COCO_STUFF_CLASSES[-1] == "wood"
    every_id = np.arange(256, dtype=np.uint8)
    theirs = official_encode(every_id)
    ours = coco_stuff_id_to_class()[every_id]
    counted = theirs < 171  # what the official confusion matrix counts
    np.testing.assert_array_equal(ours[counted], theirs[counted])
    assert (ours[~counted] == IGNORE_INDEX).all() and int(counted.sum()) == 171
    assert ours[0] == IGNORE_INDEX and ours[12] == IGNORE_INDEX and ours[92] == 80  # unlabeled, unused, banner


def _coco_stuff_root(tmp_path: Path, labels: dict[str, np.ndarray], split: str = "val") -> Path:
    """COCO-Stuff 10k as the official lists name it: {split}/image/*.jpg, {split}/label/*.png, {split}.lst."""
    root = tmp_path / "cocostuff"
    lines = []
    for stem, label in labels.items():
        for folder in ("image", "label"):
            (root / split / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / split / "image" / f"{stem}.jpg"), np.full((*label.shape, 3), 90, np.uint8))
        cv2.imwrite(str(root / split / "label" / f"{stem}.png"), label.astype(np.uint8))
        lines.append(f"{split}/image/{stem}.jpg {split}/label/{stem}.png")
    (root / f"{split}.lst").write_text("\n".join(lines) + "\n")
    return root


def test_the_dataset_reads_the_official_lists(tmp_path: Path):
    raw = np.array([[0, 1, 12, 92], [182, 255, 91, 44]], np.uint8)
    root = _coco_stuff_root(tmp_path, {"COCO_train2014_000000000825": raw,
                                       "COCO_train2014_000000000934": raw.T.copy()})
    dataset = CocoStuffDataset(root, "val")
    assert dataset.num_classes == 171 and [s[0].name for s in dataset.samples] == [
        "COCO_train2014_000000000825.jpg", "COCO_train2014_000000000934.jpg"]  # the list's order
    image, label, meta = dataset[0]
    assert image.shape == (2, 4, 3) and meta["ori_shape"] == (2, 4)
    np.testing.assert_array_equal(label, [[255, 0, 255, 80], [170, 255, 255, 39]])
    np.testing.assert_array_equal(label, np.where(official_encode(raw) < 171, official_encode(raw), 255))


def test_bad_lists_and_labels_name_the_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"val\.lst: split list not found"):
        CocoStuffDataset(tmp_path, "val")
    root = _coco_stuff_root(tmp_path, {"a": np.array([[1, 183]], np.uint8)})
    with pytest.raises(DataError, match=r"a\.png: label values \[183\]"):
        CocoStuffDataset(root, "val")[0]
    (root / "val.lst").write_text("val/image/a.jpg\n")
    with pytest.raises(DataError, match=r"val\.lst, line 1: expected '<image> <label>'"):
        CocoStuffDataset(root, "val")
    (root / "val.lst").write_text("val/image/a.jpg val/label/b.png\n")
    with pytest.raises(DataError, match=r"b\.png: label file not found \(listed in .*val\.lst, line 1\)"):
        CocoStuffDataset(root, "val")
    (root / "val.lst").write_text("\n")
    with pytest.raises(DataError, match="split list is empty"):
        CocoStuffDataset(root, "val")


@pytest.mark.parametrize("name, kind, root, classes, dataset", [
    ("seg_hrnetv2_w48.official_ade20k", "ade20k", "datasets/ADEChallengeData2016", 150, "ade20k"),
    ("seg_hrnetv2_ocr_w48.official_cocostuff", "cocostuff", "datasets/cocostuff", 171, "cocostuff"),
])
def test_the_official_files_configs(name, kind, root, classes, dataset):
    """The dataset of the file's classes, align_corners=True (the YAMLs leave the HRNet-OCR code's default),
    and the README's evaluation: short side 520 padded to stride 8, 0.5-2.0 + flip."""
    record = get_weights(name)
    assert record.meta["align_corners"] is True and record.meta["input_size"] == [520, 520]
    cfg = TASK.config_for_record(record, None)
    assert (cfg["data"]["type"], cfg["data"]["root"], cfg["model"]["num_classes"]) == (kind, root, classes)
    assert (cfg["test"]["protocol"], cfg["test"]["protocol_dataset"]) == ("official_ms", dataset)
    single = TASK.config_for_record(record, ["test.protocol=official"])  # the README's single-scale row
    assert (single["test"]["base_size"], single["test"]["crop_size"], single["test"]["scales"]) == (
        520, [520, 520], [1.0])


def test_short_names_prefer_the_official_files():
    """As PASCAL-Context's: the official file under the dataset's name, mmsegmentation's with ``_mmseg``."""
    assert get_weights("ade20k", "seg_hrnetv2_w48").name == "seg_hrnetv2_w48.official_ade20k"
    assert get_weights("ade20k", "seg_hrnetv2_ocr_w48").name == "seg_hrnetv2_ocr_w48.official_ade20k"
    assert get_weights("ade20k_mmseg", "seg_hrnetv2_w48").name == "seg_hrnetv2_w48.mmseg_ade20k_160k"
    assert get_weights("cocostuff", "seg_hrnetv2_w48").name == "seg_hrnetv2_w48.official_cocostuff"
    assert ADE20K_CLASSES == tuple(get_weights("ade20k", "seg_hrnetv2_w48").model_meta()["classes"])


def test_a_cocostuff_file_by_name_through_hrseg_test_and_the_predictor(publish_as, tmp_path: Path,
                                                                       shared_data: Path, capsys):
    """``hrseg test seg --weights <official COCO-Stuff name>`` (a small 171-class model served under it) on the
    official lists: the single-scale official protocol, COCO-Stuff's class names in the table; the
    predictor's classes and colours are COCO-Stuff's."""
    record = publish_as(hrseg.build_model("seg_hrnetv2_w18_small_v2", num_classes=171),
                        "seg_hrnetv2_w48.official_cocostuff", "seg_hrnetv2_w18_small_v2")
    root = _coco_stuff_root(tmp_path, {"COCO_train2014_000000000825": np.tile(
        np.arange(0, 183, 6, dtype=np.uint8), (40, 2))})
    args = ["--weights", record.name, "--out-dir", str(tmp_path / "test"), "--backend", "torch", "--cfg-options",
            f"data.root={root}", "data.num_workers=0", "test.protocol=official"]
    assert test_seg.main(args) == 0
    assert "playingfield" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "test" / "metrics_test.json").read_text())
    assert 0.0 <= metrics["mIoU"] <= 1.0
    model, cfg = TASK.load_model(record.name, cfg_options=["test.backend=torch", "test.protocol=official"])
    assert model.align_corners is True
    predictor = TASK.predictor(model, cfg)
    assert predictor.classes == list(COCO_STUFF_CLASSES)
    np.testing.assert_array_equal(predictor.colours, COCO_STUFF_PALETTE)
    image = read_image(shared_data / "images" / "zidane.jpg")
    with torch.no_grad():
        labels = predictor.predict(image)
    assert labels.shape == image.shape[:2] and labels.max() < 171
