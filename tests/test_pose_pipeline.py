"""Pose end to end, through the tools users run: training, COCO mAP, detector boxes, inference.

The training runs are short, so the floors are modest, but each is far above what the same
model scores untrained (measured in the same test).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.errors import CheckpointError
from hrseg.tasks.pose import build_dataset, build_pose_model, evaluate_dataset, load_pose_config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import infer_pose  # noqa: E402
import test_pose  # noqa: E402
import train_pose  # noqa: E402

DET_IMAGES = [785, 40083, 196141, 197388]  # the images the official detector's boxes cover
# Real train2017 photographs with several labelled people, for the overfit run.
OVERFIT_IMAGES = [5802, 60623, 111076, 184613, 293802, 384553]


def _untrained_ap(cfg) -> float:
    torch.manual_seed(cfg["seed"])
    model = build_pose_model(cfg["model"])
    return evaluate_dataset(model, build_dataset(cfg, "val"), cfg["test"], verbose=False)["AP"]


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """A short training on a small synthetic split, through tools/train_pose.py."""
    work = tmp_path_factory.mktemp("pose_synth")
    options = [f"data.root={work / 'data'}", "data.synthetic.num_train=160", "data.synthetic.num_val=30",
               "data.synthetic.image_size=[192,192]", "data.num_workers=0", "train.max_epochs=12",
               "train.eval_interval=12", "schedule.milestones=[10]", "schedule.warmup_iters=10"]
    assert train_pose.main(["--cfg-options", *options, "--work-dir", str(work / "run")]) == 0
    return work


@pytest.mark.slow
def test_short_synthetic_training_reaches_an_ap_floor(synthetic_run):
    metrics = json.loads((synthetic_run / "run" / "metrics.json").read_text())
    final = metrics["metrics"]
    cfg = load_pose_config(REPO / "configs/pose/synthetic_mini.py",
                           {"data.root": str(synthetic_run / "data"), "data.synthetic.num_train": 160,
                            "data.synthetic.num_val": 30, "data.synthetic.image_size": [192, 192]})
    untrained = _untrained_ap(cfg)
    print(f"synthetic mini-split: AP {final['AP']:.3f} after 12 epochs, untrained {untrained:.3f}")
    assert untrained < 0.05
    assert final["AP"] >= 0.25
    for name in ("latest.pth", "best.pth", "log.csv", "curves.png", "results_keypoints_val.json"):
        assert (synthetic_run / "run" / name).is_file()


@pytest.fixture(scope="module")
def coco_overfit(tmp_path_factory, shared_data):
    """Overfit a small HRNet on a few real COCO photographs (GT boxes), through the tool."""
    work = tmp_path_factory.mktemp("pose_coco")
    config = work / "overfit.py"
    config.write_text(
        '_base_ = ["%s"]\n' % (REPO / "configs/models/pose_hrnet_w32.py")
        + 'model = dict(name="pose_hrnet_w18_small_v1")\n'
        + f'data = dict(root="{shared_data / "coco_mini"}", '
        + f'train=dict(ann_file="person_keypoints.json", img_dir="images", img_ids={OVERFIT_IMAGES}), '
        + f'val=dict(ann_file="person_keypoints.json", img_dir="images", img_ids={OVERFIT_IMAGES}), '
        + 'input_size=[128, 96], heatmap_size=[32, 24], sigma=1.0, batch_size=8, val_batch_size=32, '
        + 'num_workers=0, augment=dict(scale_factor=0.1, rotation_factor=10, half_body_prob=0.0, flip=False))\n'
        + 'test = dict(flip=False)\n'
        + 'optimizer = dict(type="Adam", lr=2e-3)\n'
        + 'schedule = dict(type="multistep", milestones=[50], warmup_iters=10)\n'
        + 'train = dict(max_epochs=60, eval_interval=60, log_interval=50)\n')
    assert train_pose.main([str(config), "--work-dir", str(work / "run")]) == 0
    return config, work


@pytest.mark.slow
def test_overfit_on_real_coco_rises_well_above_untrained(coco_overfit):
    config, work = coco_overfit
    final = json.loads((work / "run" / "metrics.json").read_text())["metrics"]
    untrained = _untrained_ap(load_pose_config(config))
    print(f"real COCO overfit ({len(OVERFIT_IMAGES)} images): AP {final['AP']:.3f}, untrained {untrained:.3f}")
    assert untrained < 0.05
    assert final["AP"] >= 0.3


@pytest.mark.slow
def test_test_tool_with_the_official_detector_boxes(coco_overfit, shared_data, capsys):
    """tools/test_pose.py with the AP_H_56 person boxes on the 4 images they cover; the numbers
    equal pycocotools run directly on the results file it wrote."""
    config, work = coco_overfit
    det = shared_data / "coco_mini" / "person_detections_AP_H_56.json"
    out = work / "det_eval"
    args = [str(config), "--weights", str(work / "run" / "best.pth"), "--det-json", str(det), "--out-dir", str(out),
            "--cfg-options", f"data.val.img_ids={DET_IMAGES}"]
    assert test_pose.main(args) == 0
    printed = capsys.readouterr().out
    assert "AP .5" in printed and "AR (L)" in printed and "detected boxes" in printed
    ours = json.loads((out / "metrics_test.json").read_text())
    gt = COCO(str(shared_data / "coco_mini" / "person_keypoints.json"))
    results = json.loads((out / "results_keypoints_test.json").read_text())
    assert {r["image_id"] for r in results} <= set(DET_IMAGES) and results
    ev = COCOeval(gt, gt.loadRes(results), "keypoints")
    ev.params.imgIds = DET_IMAGES
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ours["AP"] == pytest.approx(ev.stats[0], abs=1e-12)
    assert ours["AR"] == pytest.approx(ev.stats[5], abs=1e-12)


@pytest.mark.slow
def test_infer_tool_on_a_real_photograph(coco_overfit, shared_data, tmp_path):
    _, work = coco_overfit
    photo = shared_data / "images" / "zidane.jpg"
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"zidane.jpg": [[100, 40, 560, 680, 0.9], [700, 40, 450, 680, 0.8]]}))
    out = tmp_path / "out"
    assert infer_pose.main([str(photo), "--weights", str(work / "run" / "best.pth"), "--boxes", str(boxes),
                            "--out", str(out)]) == 0
    overlay = cv2.imread(str(out / "zidane_pose.png"))
    assert overlay.shape == (720, 1280, 3)
    result = json.loads((out / "zidane_pose.json").read_text())
    assert (result["width"], result["height"]) == (1280, 720)
    assert 1 <= len(result["people"]) <= 2
    for person in result["people"]:
        assert len(person["keypoints"]) == 17
        xy = np.array([v[:2] for v in person["keypoints"].values()])
        assert np.isfinite(xy).all()


@pytest.mark.slow
def test_infer_tool_without_boxes_uses_the_whole_image(coco_overfit, shared_data, tmp_path):
    _, work = coco_overfit
    out = tmp_path / "out"
    assert infer_pose.main([str(shared_data / "images" / "astronaut.png"), "--weights",
                            str(work / "run" / "best.pth"), "--out", str(out)]) == 0
    result = json.loads((out / "astronaut_pose.json").read_text())
    assert len(result["people"]) == 1 and result["people"][0]["bbox"] == [0.0, 0.0, 512.0, 512.0]


@pytest.mark.slow
def test_infer_tool_errors_are_clear_and_write_nothing(coco_overfit, shared_data, tmp_path, capsys):
    _, work = coco_overfit
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    weights = str(work / "run" / "best.pth")
    good = str(shared_data / "images" / "bus.jpg")
    for bad in (str(tmp_path / "missing.jpg"), str(corrupt)):
        code = infer_pose.run_cli(lambda: infer_pose.main([good, bad, "--weights", weights, "--out", str(out)]))
        assert code == 2
        err = capsys.readouterr().err
        assert Path(bad).name in err and err.count("\n") == 1
    assert not out.exists() or not any(out.iterdir())


def test_missing_weights_say_how_to_get_them(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = infer_pose.run_cli(lambda: infer_pose.main([str(tmp_path / "x.jpg")]))
    assert code == 2
    assert "hrseg train pose" in capsys.readouterr().err


def test_unknown_config_key_is_one_clear_error(tmp_path, capsys):
    code = train_pose.run_cli(lambda: train_pose.main(["--cfg-options", "optimizer.lrr=0.1", "--work-dir",
                                                       str(tmp_path)]))
    assert code == 2
    err = capsys.readouterr().err
    assert "optimizer.lrr" in err and "optimizer.lr" in err


@pytest.mark.slow
def test_official_checkpoint_works_with_the_tools(official_state, shared_data, tmp_path, capsys):
    """A file in the official pose code's layout (plain state dict, W32) runs through infer_pose
    and test_pose with the config that names its model, as the official code's config does; without
    one, one sentence says so (the model is never guessed from the file's shapes)."""
    weights = tmp_path / "pose_hrnet_w32_256x192.pth"
    torch.save(official_state("pose_hrnet_w32_256x192.json"), weights)
    out = tmp_path / "out"
    image = str(shared_data / "images" / "zidane.jpg")
    with pytest.raises(CheckpointError, match="records no model"):
        infer_pose.main([image, "--weights", str(weights), "--out", str(out)])
    assert not out.exists()
    # --backend optimized: the layout is under test here, not the export of a W32 (seconds)
    assert infer_pose.main([image, "--weights", str(weights), "--out", str(out), "--backend", "optimized",
                            "--config", str(REPO / "configs/pose/hrnet_w32_coco_256x192.py")]) == 0
    result = json.loads((out / "zidane_pose.json").read_text())
    assert len(result["people"]) == 1 and len(result["people"][0]["keypoints"]) == 17
    mini = shared_data / "coco_mini"
    args = [str(REPO / "configs/pose/hrnet_w32_coco_256x192.py"), "--weights", str(weights), "--out-dir",
            str(tmp_path / "eval"), "--cfg-options", f"data.root={mini}", "data.val.ann_file=person_keypoints.json",
            "data.val.img_dir=images", f"data.val.img_ids={DET_IMAGES[:1]}",  # one image: the layout is under test
            "data.val.det_file=person_detections_AP_H_56.json"]
    assert test_pose.main(args + ["--backend", "optimized"]) == 0
    printed = capsys.readouterr().out
    assert "flip test" in printed and "detected boxes" in printed
    assert (tmp_path / "eval" / "metrics_test.json").is_file()
