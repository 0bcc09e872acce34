"""Any keypoint set, no code change: a COCO-format file with K != 17 named joints trains, tests
and infers through the tools, with its own sigmas, flip pairs and skeleton; the checkpoint
carries the set, so inference needs nothing else."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.errors import ConfigError
from hrseg.meta.keypoints import KEYPOINT_NAMES, flip_pairs_from_names

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import infer_pose  # noqa: E402
import test_pose  # noqa: E402
import train_pose  # noqa: E402

# A 9-joint "critter" made from COCO's joints: other names (l_/r_ style), other order, own sigmas.
KEEP = [0, 6, 5, 12, 11, 14, 13, 16, 15]
NAMES = ["snout", "r_shoulder", "l_shoulder", "r_hip", "l_hip", "r_knee", "l_knee", "r_paw", "l_paw"]
SIGMAS = [0.03, 0.08, 0.08, 0.1, 0.1, 0.09, 0.09, 0.09, 0.09]
SKELETON = [[1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7], [6, 8], [7, 9], [4, 5]]  # 1-based, as COCO
IMAGES = [5802, 60623, 111076, 184613, 293802, 384553]


@pytest.fixture(scope="module")
def critter_set(tmp_path_factory, shared_data):
    """The coco_mini people as a 9-keypoint category (id 3), images in place."""
    src = json.loads((shared_data / "coco_mini" / "person_keypoints.json").read_text())
    work = tmp_path_factory.mktemp("critter")
    anns = []
    for a in src["annotations"]:
        if a["image_id"] in IMAGES and a.get("num_keypoints", 0) > 0 and not a["iscrowd"]:
            k = np.array(a["keypoints"]).reshape(17, 3)[KEEP]
            if (k[:, 2] > 0).sum() >= 3:
                anns.append({**a, "category_id": 3, "keypoints": k.ravel().tolist(),
                             "num_keypoints": int((k[:, 2] > 0).sum())})
    data = {"images": [i for i in src["images"] if i["id"] in IMAGES], "annotations": anns,
            "categories": [{"id": 3, "name": "critter", "supercategory": "animal", "keypoints": NAMES,
                            "skeleton": SKELETON}]}
    (work / "critter.json").write_text(json.dumps(data))
    return work


def _config(work: Path, shared_data: Path, sigmas: bool = True) -> list[str]:
    options = [f"data.root={shared_data / 'coco_mini'}", f"data.train.ann_file={work / 'critter.json'}",
               "data.train.img_dir=images", f"data.val.ann_file={work / 'critter.json'}", "data.val.img_dir=images",
               "model.name=pose_hrnet_w18_small_v1", "data.input_size=[128,96]", "data.heatmap_size=[32,24]",
               "data.sigma=1.0", "data.batch_size=8", "data.num_workers=0", "data.augment.scale_factor=0.1",
               "data.augment.rotation_factor=10", "test.flip=True", "optimizer.lr=0.002",
               "schedule.milestones=[35]", "schedule.warmup_iters=10", "train.max_epochs=40",
               "train.eval_interval=40"]
    return options + ([f"data.sigmas={SIGMAS}".replace(" ", "")] if sigmas else [])


def test_flip_pairs_come_from_the_names():
    assert flip_pairs_from_names(NAMES) == ((1, 2), (3, 4), (5, 6), (7, 8))
    assert flip_pairs_from_names(KEYPOINT_NAMES) == ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12),
                                                     (13, 14), (15, 16))
    assert flip_pairs_from_names(["eye_left", "eye_right", "tail"]) == ((0, 1),)


def test_a_set_without_sigmas_is_a_clear_error(critter_set, shared_data):
    with pytest.raises(ConfigError, match="data.sigmas"):
        train_pose.main([str(REPO / "configs/pose/custom_keypoints.py"), "--cfg-options",
                         *_config(critter_set, shared_data, sigmas=False), "--work-dir", str(critter_set / "x")])


@pytest.fixture(scope="module")
def critter_run(critter_set, shared_data):
    run = critter_set / "run"
    assert train_pose.main([str(REPO / "configs/pose/custom_keypoints.py"), "--cfg-options",
                            *_config(critter_set, shared_data), "--work-dir", str(run)]) == 0
    return run


@pytest.mark.slow
def test_custom_set_trains_and_its_ap_is_pycocotools_with_its_sigmas(critter_run, critter_set, shared_data):
    ckpt = torch.load(critter_run / "best.pth", map_location="cpu", weights_only=True)
    kp = ckpt["meta"]["model"]["keypoints"]
    assert kp["names"] == NAMES and kp["sigmas"] == SIGMAS and kp["flip_pairs"] == [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert kp["skeleton"] == [[a - 1, b - 1] for a, b in SKELETON]
    assert ckpt["state_dict"]["head.final_layer.weight"].shape[0] == 9

    out = critter_set / "test"
    assert test_pose.main([str(REPO / "configs/pose/custom_keypoints.py"), "--weights", str(critter_run / "best.pth"),
                           "--out-dir", str(out), "--cfg-options", *_config(critter_set, shared_data)]) == 0
    ours = json.loads((out / "metrics_test.json").read_text())
    results = json.loads((out / "results_keypoints_test.json").read_text())
    assert {r["category_id"] for r in results} == {3} and len(results[0]["keypoints"]) == 27
    gt = COCO(str(critter_set / "critter.json"))
    ev = COCOeval(gt, gt.loadRes(results), "keypoints")
    ev.params.kpt_oks_sigmas = np.array(SIGMAS)
    ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ours["AP"] == pytest.approx(ev.stats[0], abs=1e-12)
    again = critter_set / "test_recorded"  # no CONFIG: the one the checkpoint records (its data, its test)
    assert test_pose.main(["--weights", str(critter_run / "best.pth"), "--out-dir", str(again)]) == 0
    assert json.loads((again / "metrics_test.json").read_text())["AP"] == ours["AP"]
    print(f"9-keypoint critter set, 40 epochs on {len(IMAGES)} photographs: AP {ours['AP']:.3f}")
    assert ours["AP"] >= 0.2  # untrained: about 0


@pytest.mark.slow
def test_inference_draws_the_sets_own_skeleton_with_no_config(critter_run, critter_set, shared_data):
    out = critter_set / "infer"
    photo = shared_data / "coco_mini" / "images" / f"{IMAGES[0]:012d}.jpg"
    assert infer_pose.main([str(photo), "--weights", str(critter_run / "best.pth"), "--out", str(out)]) == 0
    result = json.loads((out / f"{photo.stem}_pose.json").read_text())
    assert result["keypoint_names"] == NAMES
    assert result["skeleton"] == [[a - 1, b - 1] for a, b in SKELETON]
    assert list(result["people"][0]["keypoints"]) == NAMES
    assert (out / f"{photo.stem}_pose.png").is_file()
