"""The COCO instances loader's checks and defaults, and pycocotools' numbers for what it reads:
missing ``iscrowd`` / ``area``, malformed segmentations, duplicate ids, bad result values and
no detections at all, on files derived from the real COCO sample."""
from __future__ import annotations

import logging
import contextlib
import copy
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from conftest import coco_subset, write_json_file
from hrseg.data.det.coco_instances import CocoInstances, load_coco_instances
from hrseg.data.det.dataset import CocoDetection
from hrseg.errors import DataError
from hrseg.evaluation.coco_boxes import evaluate_boxes
from hrseg.evaluation.coco_masks import evaluate_masks

IMAGE = 12448  # no small objects: its APs and ARs are -1 in pycocotools


@pytest.fixture(scope="module")
def instances(coco_mini: Path) -> dict:
    return json.loads((coco_mini / "instances.json").read_text())


@pytest.fixture(scope="module")
def sample(instances: dict) -> dict:
    """A dozen images of the sample, crowd regions (uncompressed RLE) among their polygons."""
    crowd = sorted({a["image_id"] for a in instances["annotations"] if a["iscrowd"]})[:4]
    others = sorted(i["id"] for i in instances["images"] if i["id"] not in crowd)[:8]
    data = coco_subset(instances, crowd + others + [IMAGE])
    assert {type(a["segmentation"]) for a in data["annotations"]} == {list, dict}
    return data


def _noisy(data: dict, seed: int = 0) -> list[dict]:
    """Each ground-truth box and mask moved a little, with random scores."""
    rng = np.random.default_rng(seed)
    imgs = {i["id"]: i for i in data["images"]}
    out = []
    for a in data["annotations"]:
        img = imgs[a["image_id"]]
        h, w = img["height"], img["width"]
        seg = a["segmentation"]
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w)) if isinstance(seg, list) else \
            mask_utils.frPyObjects(seg, h, w)
        mask = np.roll(mask_utils.decode(rle), tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
        enc = mask_utils.encode(np.asfortranarray(mask))
        x, y, bw, bh = a["bbox"]
        dx, dy = rng.normal(0, 0.08, 2) * [bw, bh]
        out.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": float(rng.random()),
                    "bbox": [x + dx, y + dy, bw, bh],
                    "segmentation": {"size": [h, w], "counts": enc["counts"].decode()}})
    return out


def _evaluate(path: Path, results: list[dict]) -> tuple[list[float], list[float]]:
    boxes = [{k: v for k, v in r.items() if k != "segmentation"} for r in results]
    masks = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
    return (list(evaluate_boxes(path, boxes, verbose=False).values()),
            list(evaluate_masks(path, masks, verbose=False).values()))


def test_missing_iscrowd_and_area_get_cocos_defaults(tmp_path, sample):
    stripped = copy.deepcopy(sample)
    for a in stripped["annotations"]:
        del a["area"]
        if not a["iscrowd"]:
            del a["iscrowd"]
    full = write_json_file(tmp_path / "full.json", sample)
    path = write_json_file(tmp_path / "stripped.json", stripped)
    coco = load_coco_instances(path)
    imgs = coco.imgs
    for a in sample["annotations"]:
        got = coco.anns[a["id"]]
        assert got["iscrowd"] == a["iscrowd"]
        if a["iscrowd"]:  # RLE: its pixels, pycocotools' area
            img = imgs[a["image_id"]]
            rle = mask_utils.frPyObjects(a["segmentation"], img["height"], img["width"])
            assert got["area"] == float(mask_utils.area(rle))
        else:  # polygons: the official files' area
            assert got["area"] == pytest.approx(a["area"], rel=1e-9)
    # COCOeval reads the filled-in file as it reads the complete one; training sees the same targets
    results = _noisy(sample)
    box_full, mask_full = _evaluate(full, results)
    box_stripped, mask_stripped = _evaluate(path, results)
    assert box_stripped == box_full and mask_stripped == mask_full
    assert 0.1 < box_full[0] < 0.95 and 0.1 < mask_full[0] < 0.95
    ours, theirs = CocoInstances(path), CocoInstances(full)
    for i in ours.image_ids[:4]:
        a, b = ours.targets(i, masks=True), theirs.targets(i, masks=True)
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.masks, b.masks)
    # a box without a mask ([] or none): the box's area
    boxes_only = copy.deepcopy(stripped)
    boxes_only["annotations"][0]["segmentation"] = []
    del boxes_only["annotations"][1]["segmentation"]
    coco = load_coco_instances(write_json_file(tmp_path / "boxes.json", boxes_only))
    for a in boxes_only["annotations"][:2]:
        assert coco.anns[a["id"]]["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3])


def test_compressed_rle_ground_truth_is_read_with_its_area(tmp_path, sample):
    """Crowd regions as compressed RLE strings: checked by their runs, area from them."""
    data = copy.deepcopy(sample)
    imgs = {i["id"]: i for i in data["images"]}
    for a in data["annotations"]:
        del a["area"]
        if a["iscrowd"]:
            img = imgs[a["image_id"]]
            rle = mask_utils.frPyObjects(a["segmentation"], img["height"], img["width"])
            a["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
            a["pixels"] = float(mask_utils.area(rle))
    path = write_json_file(tmp_path / "compressed.json", data)
    coco = load_coco_instances(path)
    crowd = [a for a in data["annotations"] if a["iscrowd"]]
    assert crowd and all(coco.anns[a["id"]]["area"] == a["pixels"] for a in crowd)
    results = _noisy(sample)
    assert _evaluate(path, results) == _evaluate(write_json_file(tmp_path / "full.json", sample), results)


def _short_counts(h: int, w: int) -> str:
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3:, w // 3:] = 1
    counts = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
    return counts[:-1]  # its last run cut: a number cut short, or runs not filling the image


@pytest.mark.parametrize("segmentation, message", [
    (lambda h, w: [[1, 2, 3]], r"polygon \[1, 2, 3\] is not"),
    (lambda h, w: [[1, 2, 3, 4, 5, 6, 7]], "polygon .* is not"),
    (lambda h, w: [[1, 2, 30, 40]], "polygon .* is not"),  # pycocotools would read it as a box
    (lambda h, w: [[1, 2, "3", 4, 5, 6]], "polygon .* is not"),
    (lambda h, w: [1, 2, 30, 4, 5, 60], r"segmentation \[1, 2, 30, 4, 5, 60\] is one flat list of numbers"),
    (lambda h, w: {"counts": [h * w]}, "RLE segmentation lacks 'size'"),
    (lambda h, w: {"size": [h, w]}, "RLE segmentation lacks 'counts'"),
    (lambda h, w: {"size": [h, w], "counts": 12}, "RLE counts must be"),
    (lambda h, w: {"size": [h, w], "counts": [h * w, -1, 1]}, "RLE counts must be"),
    (lambda h, w: {"size": [w, h], "counts": [h * w]}, "RLE size .* differs from the image's"),
    (lambda h, w: {"size": [h, w], "counts": [h * w - 1]}, "RLE counts must be run lengths summing to h \\* w"),
    (lambda h, w: {"size": [h, w], "counts": "a b"}, "RLE counts must be"),
    (lambda h, w: {"size": [h, w], "counts": _short_counts(h, w)}, "RLE counts"),
    (lambda h, w: "nonsense", "segmentation must be polygons or an RLE"),
])
def test_a_malformed_segmentation_is_one_error_when_the_file_is_read(tmp_path, sample, segmentation, message):
    data = copy.deepcopy(sample)
    ann = data["annotations"][3]
    img = next(i for i in data["images"] if i["id"] == ann["image_id"])
    ann["segmentation"] = segmentation(img["height"], img["width"])
    path = write_json_file(tmp_path / "bad.json", data)
    for read in (load_coco_instances, CocoInstances, lambda p: evaluate_masks(p, [], verbose=False)):
        with pytest.raises(DataError, match=f"{re.escape(str(path))}: annotation id {ann['id']}: {message}"):
            read(path)


@pytest.mark.parametrize("section", ["annotations", "categories", "images"])
def test_an_id_used_twice_is_one_error(tmp_path, sample, section):
    data = copy.deepcopy(sample)
    records = data[section]
    twice = records[1]["id"]
    records.append(dict(records[1], name="copy") if section == "categories" else dict(records[1]))
    what = section[:-1].replace("categorie", "category")
    with pytest.raises(DataError, match=f"bad.json: {what} id {twice} is used twice"):
        load_coco_instances(write_json_file(tmp_path / "bad.json", data))


@pytest.mark.parametrize("section, field, value, message", [
    ("annotations", "iscrowd", 2, "has iscrowd 2; expected 0 or 1"),
    ("annotations", "iscrowd", "0", 'has iscrowd "0"; expected 0 or 1'),
    ("annotations", "area", "12", 'has area "12"; expected a finite number >= 0'),
    ("annotations", "area", -1, "has area -1; expected"),
    ("annotations", "id", "5", 'annotation id "5" is not an integer'),
    ("annotations", "category_id", [1], "has category_id \\[1\\], which is not among the file's categories"),
    ("images", "width", 0, "has width 0; expected a positive integer"),
    ("images", "height", "480", 'has height "480"; expected a positive integer'),
    ("categories", "id", [1], "category id \\[1\\] is not an integer"),
])
def test_other_bad_annotation_values_are_one_error(tmp_path, sample, section, field, value, message):
    data = copy.deepcopy(sample)
    data[section][0][field] = value
    with pytest.raises(DataError, match=f"bad.json: .*{message}"):
        load_coco_instances(write_json_file(tmp_path / "bad.json", data))


def _pycocotools_without_detections(gt_path: Path, iou_type: str, img_ids: list[int]) -> list[float]:
    """pycocotools' stats on ``img_ids`` of a results file whose one detection is elsewhere."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ann = next(a for a in gt.dataset["annotations"] if a["image_id"] not in img_ids and not a["iscrowd"])
        det = {"image_id": ann["image_id"], "category_id": ann["category_id"], "score": 0.5}
        if iou_type == "bbox":
            det["bbox"] = list(ann["bbox"])
        else:
            det["segmentation"] = gt.annToRLE(ann)
        ev = COCOeval(gt, gt.loadRes([det]), iou_type)
        ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def test_no_detections_score_as_pycocotools_scores_them(coco_mini, caplog):
    gt_path = coco_mini / "instances.json"
    for evaluate, iou_type, what in ((evaluate_boxes, "bbox", "no detections"), (evaluate_masks, "segm", "no masks")):
        with caplog.at_level(logging.WARNING, logger="hrseg"):
            stats = list(evaluate(gt_path, [], img_ids=[IMAGE], verbose=False).values())
        assert what in caplog.text
        reference = _pycocotools_without_detections(gt_path, iou_type, [IMAGE])
        assert stats == reference
        assert -1.0 in stats and 0.0 in stats  # no small objects there: -1; the others: 0


@pytest.mark.parametrize("change, message", [
    (dict(score="high"), "has score high; expected a finite number"),
    (dict(score=None), "has score None; expected a finite number"),
    (dict(score=float("nan")), "has score nan; expected a finite number"),
    (dict(bbox=["1", 2, 3, 4]), "bbox .* is not \\[x, y, w, h\\], four finite numbers"),
    (dict(image_id=[25560]), "image_id \\[25560\\] is not an integer"),
    (dict(category_id="1"), "category_id 1 is not an integer"),
])
def test_bad_result_values_are_one_error(coco_mini, change, message):
    good = {"image_id": 25560, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}
    with pytest.raises(DataError, match=f"box results: .*{message}"):
        evaluate_boxes(coco_mini / "instances.json", [good, dict(good, **change)], verbose=False)


def test_a_mask_model_needs_every_training_instance_masked_before_the_first_epoch(sample: dict, coco_mini: Path,
                                                                                   tmp_path: Path) -> None:
    """An instance without a segmentation stopped Mask R-CNN's training only when its image was
    first loaded, mid-epoch; a box-only model trains on the same file."""
    data = copy.deepcopy(sample)
    plain = next(a for a in data["annotations"] if not a["iscrowd"])
    del plain["segmentation"]
    path = write_json_file(tmp_path / "unmasked.json", data)
    inst = CocoInstances(path)
    with pytest.raises(DataError, match=f"unmasked.json: annotation id {plain['id']} has no segmentation"):
        CocoDetection(inst, coco_mini / "images", train=True, masks=True)
    assert len(CocoDetection(inst, coco_mini / "images", train=True)) == len(data["images"])
