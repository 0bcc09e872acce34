"""Box data: the COCO instances adapter, augmentation with boxes, the dataset, COCO box AP."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import logging

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.data.det.coco_instances import CocoInstances, load_coco_instances
from hrseg.data.det.dataset import CocoDetection, det_collate
from hrseg.data.det.transforms import DetAugment
from hrseg.errors import DataError
from hrseg.evaluation.coco_boxes import STAT_NAMES, evaluate_boxes


def _instances(tmp_path, images=((1, 64, 48),), anns=(), cats=((7, "cat"), (3, "dog")), write_images=True):
    """A small instances file (``images``: (id, width, height)) and its image folder."""
    img_dir = tmp_path / "images"
    img_dir.mkdir(exist_ok=True)
    doc = {"images": [{"id": i, "file_name": f"{i:012d}.jpg", "width": w, "height": h} for i, w, h in images],
           "annotations": [dict(a) for a in anns],
           "categories": [{"id": c, "name": n} for c, n in cats]}
    if write_images:
        for i, w, h in images:
            cv2.imwrite(str(img_dir / f"{i:012d}.jpg"), np.full((h, w, 3), 90, np.uint8))
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path, img_dir


def _ann(i, image_id, cat, box, crowd=0):
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": list(box), "area": box[2] * box[3],
            "iscrowd": crowd}


def test_labels_are_contiguous_in_category_id_order_and_crowd_is_left_out(tmp_path):
    anns = [_ann(1, 1, 7, (5, 6, 20, 10)), _ann(2, 1, 3, (0, 0, 8, 8)), _ann(3, 1, 3, (30, 20, 10, 10), crowd=1)]
    path, _ = _instances(tmp_path, anns=anns)
    inst = CocoInstances(path)
    assert inst.cat_ids == [3, 7] and inst.class_names == ["dog", "cat"] and inst.num_classes == 3
    t = inst.targets(1)
    assert t.labels.tolist() == [2, 1]  # cat (id 7) -> 2, dog (id 3) -> 1; the crowd dog left out
    np.testing.assert_allclose(t.boxes, [[5, 6, 25, 16], [0, 0, 8, 8]])
    assert t.boxes.dtype == np.float32 and t.labels.dtype == np.int64


def test_boxes_are_clipped_and_degenerate_ones_dropped_with_a_warning(tmp_path, caplog):
    anns = [_ann(1, 1, 7, (50, 40, 30, 30)), _ann(2, 1, 7, (10, 10, 0.5, 20)), _ann(3, 1, 3, (70, 5, 5, 5))]
    path, _ = _instances(tmp_path, anns=anns)
    with caplog.at_level(logging.WARNING):
        inst = CocoInstances(path)
    assert "2 box(es)" in caplog.text and "instances.json" in caplog.text
    np.testing.assert_allclose(inst.targets(1).boxes, [[50, 40, 64, 48]])


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("annotations"), "missing COCO section"),
    (lambda d: d["annotations"][0].update(category_id=99), "category_id 99"),
    (lambda d: d["annotations"][0].update(image_id=5), "image id 5"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "bbox"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, -3, 4]), "bbox"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, float("nan"), 4]), "bbox"),
    (lambda d: d["images"][0].pop("width"), "lacks field"),
    (lambda d: d.update(categories=[]), "no categories"),
])
def test_malformed_annotation_files_are_one_clear_error(tmp_path, mutate, message):
    path, _ = _instances(tmp_path, anns=[_ann(1, 1, 7, (5, 6, 20, 10))], write_images=False)
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message) as err:
        load_coco_instances(path)
    assert str(path) in str(err.value)


def test_unreadable_annotation_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_coco_instances(tmp_path / "nope.json")
    bad = tmp_path / "cut.json"
    bad.write_text('{"images": [')
    with pytest.raises(DataError, match="not valid JSON") as err:
        load_coco_instances(bad)
    assert str(bad) in str(err.value)


def _rectangle_image(w=80, h=60, box=(10, 20, 35, 50)):
    img = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 255
    return img, np.array([box], np.float32)


def _bright_box(img):
    ys, xs = np.nonzero(img[..., 0] > 127)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_augmentation_moves_boxes_with_the_pixels():
    img, boxes = _rectangle_image()
    aug = DetAugment(flip_prob=1.0)
    out, b, labels = aug(img, boxes, np.array([4]), np.random.default_rng(0))
    np.testing.assert_allclose(b[0], [80 - 35, 20, 80 - 10, 50])
    np.testing.assert_allclose(_bright_box(out), b[0], atol=0)
    assert labels.tolist() == [4]
    zoom = DetAugment(flip_prob=0.0, scale_range=(1.3, 1.3))
    out, b, _ = zoom(img, boxes, np.array([1]), np.random.default_rng(0))
    np.testing.assert_allclose(_bright_box(out), b[0], atol=1.5)  # interpolated edges


def test_augmentation_is_fixed_by_the_generator_and_drops_boxes_that_leave():
    img, boxes = _rectangle_image(box=(0, 0, 8, 8))
    aug = DetAugment(flip_prob=0.5, scale_range=(1.8, 2.0), photometric=True)
    a = aug(img, boxes, np.array([1]), np.random.default_rng(3))
    b = aug(img, boxes, np.array([1]), np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # zoomed in about the centre, the corner box leaves the image: box and label are dropped
    assert a[1].shape == (0, 4) and a[2].shape == (0,)


def test_dataset_targets_skipping_and_missing_files(tmp_path, caplog):
    anns = [_ann(1, 1, 7, (5, 6, 20, 10)), _ann(2, 2, 3, (1, 1, 10, 10))]
    path, img_dir = _instances(tmp_path, images=((1, 64, 48), (2, 40, 30)), anns=anns)
    inst = CocoInstances(path)
    image, target = CocoDetection(inst, img_dir)[0]
    assert image.shape == (3, 48, 64) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert target["labels"].tolist() == [2] and int(target["image_id"]) == 1
    (img_dir / "000000000002.jpg").write_bytes(b"not a jpeg")
    train = CocoDetection(inst, img_dir, train=True, augment=DetAugment(flip_prob=0.0))
    batch = det_collate([train[0], train[1]])
    assert len(batch["images"]) == 1 and train.num_skipped.value == 1
    assert det_collate([train[1]]) is None
    with pytest.raises(DataError, match="000000000002.jpg"):
        CocoDetection(inst, img_dir)[1]
    (img_dir / "000000000002.jpg").unlink()
    with pytest.raises(DataError, match="1 image file"):
        CocoDetection(inst, img_dir).check_files()
    cv2.imwrite(str(img_dir / "000000000002.jpg"), np.zeros((31, 40, 3), np.uint8))
    with pytest.raises(DataError, match="40x31"):
        CocoDetection(inst, img_dir).read(2)


# -- COCO box AP -------------------------------------------------------------------------------
def _pycocotools_stats(gt_path, dets, img_ids=None, cat_ids=None):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(dets)), "bbox")
        if img_ids is not None:
            ev.params.imgIds = img_ids
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _noisy_detections(gt_path, seed=0):
    """Ground truth boxes (crowd ones too) moved by noise, with random scores, plus false ones."""
    rng = np.random.default_rng(seed)
    gt = json.loads(gt_path.read_text())
    dets = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        noise = rng.normal(0, 0.08, 4) * [w, h, w, h]
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": float(rng.random()),
                     "bbox": [float(x + noise[0]), float(y + noise[1]), float(max(w + noise[2], 1)),
                              float(max(h + noise[3], 1))]})
    for img in gt["images"][:20]:
        dets.append({"image_id": img["id"], "category_id": 1, "score": 0.5, "bbox": [0, 0, 30, 40]})
    return dets


def test_box_ap_equals_pycocotools_on_the_real_coco_sample(shared_data, tmp_path):
    gt_path = shared_data / "coco_mini" / "instances.json"
    dets = _noisy_detections(gt_path)
    stats = evaluate_boxes(gt_path, dets, verbose=False)
    reference = _pycocotools_stats(gt_path, dets)
    assert list(stats) == list(STAT_NAMES)
    np.testing.assert_allclose(list(stats.values()), reference, atol=1e-12)
    assert 0.2 < stats["AP"] < 0.95  # noisy boxes: neither perfect nor nothing
    # a results file, restricted to the val2017 images and the person category
    res = tmp_path / "results.json"
    res.write_text(json.dumps(dets))
    val_ids = sorted(i["id"] for i in json.loads(gt_path.read_text())["images"] if i["coco_split"] == "val2017")
    stats = evaluate_boxes(gt_path, res, img_ids=val_ids, cat_ids=[1], verbose=False)
    np.testing.assert_allclose(list(stats.values()), _pycocotools_stats(gt_path, dets, val_ids, [1]))


def test_ground_truth_scores_one_and_crowd_matches_are_ignored(shared_data):
    gt_path = shared_data / "coco_mini" / "instances.json"
    gt = json.loads(gt_path.read_text())
    exact = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
             for a in gt["annotations"] if not a["iscrowd"]]
    assert evaluate_boxes(gt_path, exact, verbose=False)["AP"] == pytest.approx(1.0)
    crowd = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
             for a in gt["annotations"] if a["iscrowd"]]
    assert crowd, "the sample has crowd regions"
    # detections on crowd regions are neither true nor false positives
    assert evaluate_boxes(gt_path, exact + crowd, verbose=False)["AP"] == pytest.approx(1.0)


def test_bad_results_are_clear_errors(shared_data, tmp_path, caplog):
    gt_path = shared_data / "coco_mini" / "instances.json"
    good = {"image_id": 25560, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}
    for bad, message in (([{k: v for k, v in good.items() if k != "score"}], "lacks field"),
                         ([dict(good, image_id=-4)], "image id -4"),
                         ([dict(good, category_id=12)], "category id 12"),
                         ([dict(good, bbox=[1, 2])], "bbox")):
        with pytest.raises(DataError, match=message):
            evaluate_boxes(gt_path, bad, verbose=False)
    cut = tmp_path / "results.json"
    cut.write_text('[{"image_id": 1')
    with pytest.raises(DataError, match="not valid JSON") as err:
        evaluate_boxes(gt_path, cut, verbose=False)
    assert str(cut) in str(err.value)
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        assert evaluate_boxes(gt_path, [], verbose=False)["AP"] == 0.0
    assert "no detections" in caplog.text  # a log line, not a Python warning with a source line
