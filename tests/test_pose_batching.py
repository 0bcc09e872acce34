"""Top-down pose with the person crops of several images batched together: the same people as one
forward per image, a bounded buffer of images, ground-truth boxes from a COCO file, and the
end-to-end timing report of `infer_pose.py --profile`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import hrseg
from conftest import REPO_ROOT, randomize_weights
from hrseg.codecs.msra import HeatmapCodec
from hrseg.inference.top_down import estimate_poses_batched
from hrseg.tasks.pose import load_pose_config, read_boxes
from hrseg.utils.image_io import read_image

IMAGES = ["000000000785.jpg", "000000040083.jpg", "000000196141.jpg", "000000181666.jpg"]  # 1, 3, 5, 3 people


@pytest.fixture(scope="module")
def setting(shared_data):
    cfg = load_pose_config(None, {"data.input_size": [64, 48], "data.heatmap_size": [16, 12], "test.flip": True})
    model = randomize_weights(hrseg.build_model("pose_hrnet_w18_small_v1"))
    boxes = read_boxes(shared_data / "coco_mini" / "person_keypoints.json")
    images = [(name, read_image(shared_data / "coco_mini" / "images" / name)) for name in IMAGES]
    # an image without people among them: it must come out in its place, with nobody
    items = [(name, image, boxes[name]) for name, image in images] + [("empty", images[0][1], [])]
    items = items[:2] + [items[-1]] + items[2:-1]
    return model, cfg, items


def _people(model, cfg, items, batch_size):
    return list(estimate_poses_batched(model, items, HeatmapCodec.from_config(cfg), hrseg.tasks.pose.keypoint_set(cfg),
                                       cfg["test"], batch_size))


@pytest.mark.parametrize("batch_size", [1, 5, 8])
def test_batches_across_images_give_the_people_of_one_forward_per_image(setting, batch_size):
    model, cfg, items = setting
    assert sum(len(b) for _, _, b in items) > 8  # several batches, crops of an image split across them
    per_image = _people(model, cfg, items, None)
    batched = _people(model, cfg, items, batch_size)
    assert [k for k, _, _ in batched] == [k for k, _, _ in items] == [k for k, _, _ in per_image]
    assert dict((k, p) for k, _, p in batched)["empty"] == []
    for (_, _, a), (_, _, b) in zip(per_image, batched):
        assert [p["bbox"] for p in a] == [p["bbox"] for p in b]
        for pa, pb in zip(a, b):
            assert pa["score"] == pytest.approx(pb["score"], abs=1e-5)
            xy = [np.array(list(p["keypoints"].values())) for p in (pa, pb)]
            np.testing.assert_allclose(xy[0], xy[1], atol=1e-3)


def test_only_the_images_filling_a_batch_are_held(setting):
    model, cfg, items = setting
    one_box = [(f"{k}_{i}", image, [box]) for k, image, boxes in items for i, box in enumerate(boxes[:3])]
    read, held = [0], []

    def lazily():
        for item in one_box:
            read[0] += 1
            yield item

    for n, _ in enumerate(estimate_poses_batched(model, lazily(), HeatmapCodec.from_config(cfg),
                                                 hrseg.tasks.pose.keypoint_set(cfg), cfg["test"], 2)):
        held.append(read[0] - n)
    assert len(held) == len(one_box) and max(held) <= 2


def test_boxes_from_a_coco_annotation_file(shared_data):
    path = shared_data / "coco_mini" / "person_keypoints.json"
    data = json.loads(path.read_text())
    boxes = read_boxes(path)
    assert set(boxes) == {im["file_name"] for im in data["images"]}
    people = [a for a in data["annotations"] if not a.get("iscrowd")]
    assert sum(len(b) for b in boxes.values()) == len(people)
    assert all(len(b) == 5 and b[4] == 1.0 for items in boxes.values() for b in items)


def test_infer_pose_profile_reports_images_per_second_and_the_stages(shared_data, tmp_path):
    from hrseg.commands import infer_pose

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in IMAGES[:3]:
        (folder / name).symlink_to(shared_data / "coco_mini" / "images" / name)
    weights = hrseg.save_checkpoint(tmp_path / "pose.pth", randomize_weights(hrseg.build_model("pose_hrnet_w18_small_v1")))
    runs = {}
    for batch in ("1", "5"):
        out = tmp_path / f"out{batch}"
        assert infer_pose.main([str(folder), "--weights", str(weights), "--config",
                                str(REPO_ROOT / "configs/pose/synthetic_mini.py"), "--boxes",
                                str(shared_data / "coco_mini" / "person_keypoints.json"), "--backend", "optimized",
                                "--batch-size", batch, "--profile", "--out", str(out)]) == 0
        runs[batch] = [json.loads((out / f"{Path(n).stem}_pose.json").read_text())["people"] for n in IMAGES[:3]]
    report = json.loads((tmp_path / "out5" / "profile.json").read_text())
    assert report["images"] == 3 and report["images_per_s"] > 0 and report["setup_s"] > 0
    assert {"decode", "crop", "model", "postprocess", "write", "other"} <= set(report["stages"])
    assert sum(s["share"] for s in report["stages"].values()) == pytest.approx(1.0, abs=1e-3)
    assert [len(p) for p in runs["1"]] == [len(p) for p in runs["5"]] and sum(map(len, runs["1"])) > 5
    for a, b in zip(runs["1"], runs["5"]):
        for pa, pb in zip(a, b):
            np.testing.assert_allclose(np.array(list(pa["keypoints"].values())),
                                       np.array(list(pb["keypoints"].values())), atol=1e-3)
