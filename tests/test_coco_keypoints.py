"""COCO keypoint adapter and the top-down pose dataset, on the real coco_mini sample."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import coco_subset, write_json_file
from hrseg.data.pose.coco_keypoints import CocoKeypoints, load_coco_keypoints, split_image_ids
from hrseg.meta.keypoints import NUM_JOINTS
from hrseg.data.pose.dataset import CocoPoseDataset, SkippedSample, pose_collate
from hrseg.data.pose.transforms import PoseAugment
from hrseg.errors import DataError

SMALL = dict(input_size=(128, 96), heatmap_size=(32, 24), sigma=1.0)  # (H, W)


# -- adapter -----------------------------------------------------------------------------------
def test_ground_truth_instances(coco_mini: Path):
    adapter = CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images")
    people = adapter.gt_instances()
    assert len(people) == 201  # non-crowd people with keypoints (README)
    assert sum(int(p.joints_vis.sum()) for p in people) == 2022
    # image 785, box (280.79, 44.73, 218.7, 346.68) in a 640x425 image
    first = next(p for p in people if p.ann_id == 442619)
    assert first.image_id == 785 and first.image_file == coco_mini / "images" / "000000000785.jpg"
    np.testing.assert_allclose(first.bbox, (280.79, 44.73, 217.7, 345.68), atol=1e-6)
    np.testing.assert_allclose(first.center, [389.64, 217.57], atol=1e-3)
    np.testing.assert_allclose(first.scale, [345.68 * 0.75 / 200 * 1.25, 345.68 / 200 * 1.25],
                               rtol=1e-6)
    assert first.area == pytest.approx(np.prod(first.scale.astype(np.float64) * 200))
    assert first.score == 1.0 and first.joints.shape == (NUM_JOINTS, 2)
    np.testing.assert_allclose(first.joints[0], [367, 81])
    val = split_image_ids(adapter.coco, "val2017")
    assert len(val) == 21
    val_people = CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images",
                               img_ids=val).gt_instances()
    assert len(val_people) == 58 and {p.image_id for p in val_people} <= set(val)


def test_detection_instances(coco_mini: Path):
    adapter = CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images")
    dets = json.loads((coco_mini / "person_detections_AP_H_56.json").read_text())
    people = adapter.detection_instances(coco_mini / "person_detections_AP_H_56.json")
    assert len(people) == len(dets) == 118
    assert {p.image_id for p in people} == {785, 40083, 196141, 197388}
    p, d = people[0], dets[0]
    assert p.score == pytest.approx(d["score"]) and p.joints_vis.sum() == 0
    x, y, w, h = d["bbox"]
    np.testing.assert_allclose(p.center, [x + w / 2, y + h / 2], rtol=1e-6)
    np.testing.assert_allclose(p.scale[1], max(h, w / 0.75) / 200 * 1.25, rtol=1e-6)
    high = adapter.detection_instances(coco_mini / "person_detections_AP_H_56.json", image_thre=0.5)
    assert len(high) == sum(d["score"] >= 0.5 for d in dets) < 118
    only = CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images", img_ids=[785])
    assert {p.image_id for p in only.detection_instances(
        coco_mini / "person_detections_AP_H_56.json")} == {785}


@pytest.mark.parametrize("content, message", [
    ('{"images": [], "annotations": [', "not valid JSON"),  # truncated
    ("", "not valid JSON"),
    ("[1, 2]", "expected a COCO object"),
    ('{"images": [], "annotations": []}', "missing COCO section.*categories"),
])
def test_malformed_annotation_files(tmp_path: Path, content: str, message: str):
    path = tmp_path / "person_keypoints_broken.json"
    path.write_text(content)
    with pytest.raises(DataError, match=f"person_keypoints_broken.json.*{message}"):
        load_coco_keypoints(path)


def test_missing_person_keypoints_and_fields(tmp_path: Path, coco_mini_keypoints: dict, coco_mini: Path):
    with pytest.raises(DataError, match="instances.json: no category lists keypoint names"):
        load_coco_keypoints(coco_mini / "instances.json")  # a detection file: no keypoint names
    with pytest.raises(DataError, match="nothing.json: annotation file not found"):
        load_coco_keypoints(tmp_path / "nothing.json")
    data = coco_subset(coco_mini_keypoints, [785])
    del data["annotations"][0]["keypoints"]
    with pytest.raises(DataError, match="bad.json: keypoint annotation id 442619 lacks .*keypoints"):
        load_coco_keypoints(write_json_file(tmp_path / "bad.json", data))
    data = coco_subset(coco_mini_keypoints, [785])
    del data["images"][0]["height"]
    with pytest.raises(DataError, match="bad.json: image id 785 lacks field.*height"):
        load_coco_keypoints(write_json_file(tmp_path / "bad.json", data))
    data = coco_subset(coco_mini_keypoints, [785])
    data["annotations"][0]["keypoints"] = data["annotations"][0]["keypoints"][:-3]
    with pytest.raises(DataError, match="bad.json: annotation id 442619 has 48 keypoint values"):
        load_coco_keypoints(write_json_file(tmp_path / "bad.json", data))
    with pytest.raises(DataError, match=r"image id\(s\) \[1\] not in"):
        CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images", img_ids=[1, 785])
    det = tmp_path / "dets.json"
    for dets, message in [({"a": 1}, "expected a JSON list"),
                          ([{"image_id": 785, "bbox": [0, 0, 5, 5], "score": 1}], "category_id"),
                          ([{"image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 1}],
                           "image id 7, which is not in")]:
        adapter = CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images")
        with pytest.raises(DataError, match=f"dets.json.*{message}"):
            adapter.detection_instances(write_json_file(det, dets))


def test_odd_annotations_have_clear_outcomes(tmp_path: Path, coco_mini_keypoints: dict, coco_mini: Path, caplog):
    data = coco_subset(coco_mini_keypoints, [790, 5802])
    anns = [a for a in data["annotations"] if a["num_keypoints"] > 0]
    assert len(anns) == 6
    anns[0]["area"] = 0  # zero area: dropped
    anns[1]["bbox"] = [10, 10, 0, 0]  # a point: dropped
    anns[2]["bbox"] = [-50, -20, 5000, 4000]  # clipped to the image
    img = next(i for i in data["images"] if i["id"] == anns[3]["image_id"])
    kp = anns[3]["keypoints"]
    labelled = [j for j in range(NUM_JOINTS) if kp[3 * j + 2] > 0]
    kp[3 * labelled[0]] = img["width"] + 30  # a labelled keypoint outside the image
    data["images"].append({**data["images"][0], "id": 999, "file_name": "999.jpg"})  # no people
    path = write_json_file(tmp_path / "odd.json", data)
    with caplog.at_level(logging.WARNING):
        people = CocoKeypoints(path, coco_mini / "images").gt_instances()
    ids = {p.ann_id for p in people}
    assert anns[0]["id"] not in ids and anns[1]["id"] not in ids and len(people) == 4
    clipped = next(p for p in people if p.ann_id == anns[2]["id"])
    w, h = next((i["width"], i["height"]) for i in data["images"] if i["id"] == anns[2]["image_id"])
    assert clipped.bbox == (0.0, 0.0, w - 1.0, h - 1.0)
    moved = next(p for p in people if p.ann_id == anns[3]["id"])
    assert moved.joints_vis[labelled[0]] == 0 and moved.joints_vis[labelled[1]] == 1
    assert "odd.json: 1 labelled keypoint(s) lie outside their image" in caplog.text
    assert not CocoKeypoints(path, coco_mini / "images", img_ids=[999]).gt_instances()
    with pytest.raises(DataError, match="odd.json: no person instances"):
        CocoPoseDataset(path, coco_mini / "images", train=True, img_ids=[999])


# -- dataset -----------------------------------------------------------------------------------
def test_training_samples(coco_mini: Path):
    ds = CocoPoseDataset(coco_mini / "person_keypoints.json", coco_mini / "images", train=True,
                         img_ids=[785, 790], seed=3, **SMALL)
    assert len(ds) == 5
    sample = ds[0]
    assert sample["image"].shape == (3, 128, 96) and sample["image"].dtype == torch.float32
    assert sample["target"].shape == (NUM_JOINTS, 32, 24)
    assert sample["target_weight"].shape == (NUM_JOINTS, 1)
    meta = sample["meta"]
    assert meta["image_id"] == 785 and meta["score"] == 1.0 and meta["center"].shape == (2,)
    # every weighted joint has its Gaussian peak (1 at sigma 1) in the heatmap
    w = sample["target_weight"][:, 0] > 0
    assert torch.all(sample["target"][w].amax(dim=(1, 2)) > 0.3)
    assert torch.all(sample["target"][~w].amax(dim=(1, 2)) == 0)
    # deterministic per (seed, epoch, index)
    again = ds[0]
    torch.testing.assert_close(again["image"], sample["image"])
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["image"], sample["image"])
    batch = pose_collate([ds[i] for i in range(len(ds))])
    assert batch["image"].shape == (5, 3, 128, 96) and batch["meta"]["scale"].shape == (5, 2)
    assert batch["skipped"] == []


def test_evaluation_samples_are_plain_crops(coco_mini: Path):
    ds = CocoPoseDataset(coco_mini / "person_keypoints.json", coco_mini / "images", train=False,
                         img_ids=[785], **SMALL)
    a, b = ds[0], ds[0]
    torch.testing.assert_close(a["image"], b["image"])
    assert a["meta"]["rotation"] == 0 and not a["meta"]["flipped"]
    np.testing.assert_allclose(a["meta"]["center"], ds.instances[0].center)
    det = CocoPoseDataset(coco_mini / "person_keypoints.json", coco_mini / "images", train=False,
                          det_file=coco_mini / "person_detections_AP_H_56.json", image_thre=0.9,
                          **SMALL)
    s = det[0]
    assert s["target_weight"].sum() == 0 and s["meta"]["score"] >= 0.9
    assert s["meta"]["area"] == pytest.approx(det.instances[0].area)


def test_bad_images_skipped_in_training_errors_in_evaluation(tmp_path: Path, coco_mini_keypoints: dict,
                                                            coco_mini: Path, caplog):
    images = tmp_path / "images"
    images.mkdir()
    (images / "000000000785.jpg").symlink_to(coco_mini / "images" / "000000000785.jpg")
    (images / "000000000790.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # corrupt
    # 5802 has no file at all
    ann = write_json_file(tmp_path / "person_keypoints.json", coco_subset(coco_mini_keypoints, [785, 790, 5802]))
    ds = CocoPoseDataset(ann, images, train=True, augment=PoseAugment(), **SMALL)
    assert len(ds) == 7
    with caplog.at_level(logging.WARNING):
        samples = [ds[i] for i in range(len(ds))]
    skipped = [s for s in samples if isinstance(s, SkippedSample)]
    assert len(skipped) == 6 and ds.num_skipped.value == 6
    warned = [r.getMessage() for r in caplog.records if "skipping training image" in r.getMessage()]
    assert len(warned) == 2  # one warning per file, naming it
    assert any("000000000790.jpg" in m for m in warned)
    assert any("000000005802.jpg" in m for m in warned)
    batch = pose_collate(samples)
    assert batch["image"].shape[0] == 1 and len(batch["skipped"]) == 6
    assert pose_collate(skipped) is None
    # the counter is shared with DataLoader workers (read by the engine's epoch summary)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=pose_collate)
    seen = sum(b["image"].shape[0] for b in loader if b is not None)
    assert seen == 1 and ds.num_skipped.value == 12

    ev = CocoPoseDataset(ann, images, train=False, **SMALL)
    index = next(i for i, p in enumerate(ev.instances) if p.image_id == 790)
    with pytest.raises(DataError, match="000000000790.jpg"):
        ev[index]
    # an image whose size is not the annotation file's (e.g. turned by EXIF): not usable
    data = coco_subset(coco_mini_keypoints, [785])
    data["images"][0]["width"], data["images"][0]["height"] = 425, 640
    ev = CocoPoseDataset(write_json_file(tmp_path / "turned.json", data), images, train=False, **SMALL)
    with pytest.raises(DataError, match="785.jpg: decoded as 640x425, but turned.json says 425"):
        ev[0]


def test_the_dataset_defaults_to_the_configs_visibility_rule():
    """The Python class and the config (the official rule: a joint outside the crop keeps its partial
    Gaussian) default alike."""
    import inspect

    from hrseg.tasks.pose import POSE_DEFAULTS

    default = inspect.signature(CocoPoseDataset).parameters["clip_visibility"].default
    assert default is POSE_DEFAULTS["data"]["clip_visibility"] is False
