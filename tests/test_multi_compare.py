"""`hrseg bench-multi`: the multi-task model and the separate pipeline each do the whole
photograph-to-JSON job; the separate pipeline runs its detector once and gives its people to pose."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import hrseg
from hrseg.commands import bench_multi
from hrseg.experiments.multi_compare import SeparatePipeline, photo_to_json
from hrseg.meta.keypoints import COCO_PERSON
from hrseg.tasks import detection, multi, pose, segmentation

SCENE = ["road", "sidewalk", "building", "vegetation", "sky", "person", "car"]
PERSON_SCORE_THR = 0.2


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Random-weight models of the comparison: the multi-task mini model, a Mask R-CNN whose one
    class is person (non-trivial weights: it finds people), a pose and a segmentation model."""
    from conftest import randomize_weights

    folder = tmp_path_factory.mktemp("compare")
    torch.manual_seed(0)
    cfg = multi.load_multi_config("multi/synthetic_mini", ["model.num_classes=3"])
    cfg.update(classes=[{"id": 1, "name": "person"}, {"id": 2, "name": "car"}], keypoints=COCO_PERSON.to_dict(),
               semantic_classes=SCENE)
    hrseg.save_checkpoint(folder / "multi.pth", randomize_weights(multi.TASK.build_model(cfg)),
                          meta={"config": cfg, "model": multi.TASK.model_meta(cfg)})
    cfg = detection.load_det_config("det/multi_split_maskrcnn", ["model.num_classes=2"])
    cfg["classes"] = [{"id": 1, "name": "person"}]
    hrseg.save_checkpoint(folder / "det.pth", randomize_weights(detection.TASK.build_model(cfg)),
                          meta={"config": cfg, "model": detection.TASK.model_meta(cfg)})
    cfg = pose.load_pose_config("pose/multi_split")
    hrseg.save_checkpoint(folder / "pose.pth", pose.build_pose_model(cfg["model"]), meta={"config": cfg})
    cfg = segmentation.load_seg_config("seg/multi_split")
    hrseg.save_checkpoint(folder / "seg.pth", segmentation.build_seg_model(cfg["model"]), meta={"config": cfg})
    return {name: folder / f"{name}.pth" for name in ("multi", "det", "pose", "seg")}


def test_separate_pipeline_gives_its_detections_people_to_pose(checkpoints, shared_data):
    eager = ["test.backend=torch"]  # the comparison's backend (and no exported runtime in the test process)
    det = detection.TASK.build_predictor(checkpoints["det"], cfg_options=eager, score_thr=0.05)
    calls = []
    det.runner.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
    seg = segmentation.TASK.build_predictor(checkpoints["seg"], cfg_options=eager)
    pipeline = SeparatePipeline(
        det, lambda people: pose.TASK.build_predictor(checkpoints["pose"], cfg_options=eager, person_detector=people), seg,
        PERSON_SCORE_THR)
    photo = sorted((shared_data / "coco_mini" / "images").glob("*.jpg"))[0]
    text, png = photo_to_json(pipeline, photo)
    doc = json.loads(text)
    assert calls == [1]  # the detector ran once: pose took its people, not a second detection
    people = [d for d in doc["detections"] if d["name"] == "person" and d["score"] >= PERSON_SCORE_THR]
    assert people and len(doc["people"]) <= len(people)
    given = {tuple(round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)) for x1, y1, x2, y2 in (d["bbox"] for d in people)}
    assert {tuple(round(v, 2) for v in p["bbox"][:4]) for p in doc["people"]} <= given
    assert doc["detector"] == "person detector" and doc["keypoint_names"] == list(COCO_PERSON.names)
    assert {c["name"] for c in doc["classes"]} <= set(SCENE) and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["width"] > 0 and all("segmentation" in d for d in doc["detections"])


def test_bench_multi_times_both_pipelines(checkpoints, shared_data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = [f"--{name}={path}" for name, path in checkpoints.items()]
    assert bench_multi.main([*args, "--images", str(shared_data / "coco_mini" / "images"), "--limit", "2",
                             "--rounds", "1", "--person-score-thr", str(PERSON_SCORE_THR), "--json", str(out)]) == 0
    records = json.loads(out.read_text())["records"]
    assert [r["images"] for r in records] == [2, 2] and all(r["images_per_s"] > 0 for r in records)
    separate, single = (r["parameters"] for r in records)
    assert separate > single  # three backbones against one
    assert "| multi-task: one forward pass |" in capsys.readouterr().out


def test_bench_multi_names_a_missing_folder(checkpoints, tmp_path):
    args = [f"--{name}={path}" for name, path in checkpoints.items()]
    with pytest.raises(hrseg.errors.DataError, match="not a folder of photographs"):
        bench_multi.main([*args, "--images", str(tmp_path / "nowhere")])

