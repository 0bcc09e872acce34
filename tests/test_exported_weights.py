"""An exported file runs alone: ``hrseg infer|test|serve --weights model.onnx`` predict through the
task's predictor on ONNX Runtime / OpenVINO with the config the export recorded, and give what
the checkpoint it came from gives."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest

import hrseg
from hrseg.errors import CheckpointError, ConfigError
from hrseg.export import export_model, read_meta
from hrseg.tasks import detection, pose, segmentation
from hrseg.tasks.loading import UnnamedModelError
from hrseg.utils.image_io import read_image

from conftest import randomize_weights

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow  # every test exports a model (seconds each)

POSE, SEG, DET = "pose_hrnet_w18_small_v1", "seg_hrnetv2_w18_small_v1", "det_fasterrcnn_hrnetv2p_w18"
PHOTO = "coco_mini/images/000000000785.jpg"


def _checkpoint(task, path, options, **items):
    """A checkpoint of ``task``'s config with ``options`` and ``items`` (random weights), as
    training writes it."""
    cfg = {**task.load_config(None, options), **items}
    model = randomize_weights(task.build_model(cfg))
    return hrseg.save_checkpoint(path, model, meta={"config": cfg, "model": task.model_meta(cfg)}), cfg


def _export(argv):
    from hrseg.commands.export import main

    assert main(argv) == 0


@pytest.fixture(scope="module")
def pose_files(tmp_path_factory, shared_data):
    os.environ.setdefault("HRSEG_SHARED", str(shared_data.parent))
    out = tmp_path_factory.mktemp("exported_pose")
    ckpt, _ = _checkpoint(pose.TASK, out / "run.pth", {"model.name": POSE, "data.input_size": [64, 48],
                                                       "data.heatmap_size": [16, 12], "test.flip": True})
    _export([POSE, "--weights", str(ckpt), "--dynamic-batch", "--out", str(out / "pose.onnx")])
    return ckpt, out / "pose.onnx"


def _whole_image(image):
    h, w = image.shape[:2]
    return [[0.0, 0.0, float(w), float(h), 1.0], [w * 0.25, h * 0.25, w * 0.5, h * 0.5, 0.9]]


def _keypoints(people):
    return np.array([[v for v in p["keypoints"].values()] for p in people])


def test_an_exported_pose_file_records_its_run_config_and_predicts_as_its_checkpoint(pose_files, shared_data):
    ckpt, onnx_file = pose_files
    meta = read_meta(onnx_file)
    assert meta["config"]["data"]["input_size"] == [64, 48] and meta["config"]["test"]["flip"] is True
    assert meta["model_meta"]["task"] == "pose" and len(meta["model_meta"]["keypoints"]["names"]) == 17
    image = read_image(shared_data / PHOTO)
    from_file = pose.TASK.build_predictor(onnx_file, person_detector=_whole_image)
    eager = pose.TASK.build_predictor(ckpt, cfg_options=["test.backend=torch"], person_detector=_whole_image)
    assert from_file.runner.backend in ("onnxruntime", "openvino") and from_file.describe()["task"] == "pose"
    assert from_file.describe()["parameters"] == eager.describe()["parameters"] > 1_000_000
    a, b = _keypoints(from_file(image)), _keypoints(eager(image))
    cell = image.shape[1] / 12  # the whole-image crop's heatmap cell, in pixels
    assert a.shape == b.shape == (2, 17, 3)
    assert np.abs(a[..., :2] - b[..., :2]).max() < cell and np.abs(a[..., 2] - b[..., 2]).max() < 1e-3


def test_hrseg_infer_takes_an_exported_file(pose_files, shared_data, tmp_path):
    _, onnx_file = pose_files
    photo = shared_data / PHOTO
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({photo.name: [[10, 10, 200, 300, 0.9]]}))
    from hrseg.commands.infer_pose import main

    assert main([str(photo), "--weights", str(onnx_file), "--boxes", str(boxes), "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / f"{photo.stem}_pose.json").read_text())
    assert len(doc["people"]) == 1 and len(doc["people"][0]["keypoints"]) == 17


def test_hrseg_test_evaluates_an_exported_file_as_its_checkpoint(pose_files, shared_data, tmp_path):
    ckpt, onnx_file = pose_files
    options = {"data.root": str(shared_data / "coco_mini"), "data.val.ann_file": "person_keypoints.json",
               "data.val.img_dir": "images", "data.val.img_ids": [785, 40083], "data.num_workers": 0}
    cfg = pose.TASK.load_config(None, {**options, "model.name": POSE, "data.input_size": [64, 48],
                                       "data.heatmap_size": [16, 12], "test.backend": "torch"})
    eager = pose.TASK.test(cfg, ckpt, tmp_path / "eager")
    cfg["test"]["backend"] = "auto"
    exported = pose.TASK.test(cfg, onnx_file, tmp_path / "file")
    assert exported["AP"] == pytest.approx(eager["AP"], abs=0.02)
    a = json.loads((tmp_path / "file" / "results_keypoints_test.json").read_text())
    b = json.loads((tmp_path / "eager" / "results_keypoints_test.json").read_text())
    assert len(a) == len(b) > 0
    assert [r["image_id"] for r in a] == [r["image_id"] for r in b]


def test_the_service_serves_an_exported_file(pose_files):
    from hrseg.serve.models import load_model

    _, onnx_file = pose_files
    served = load_model("pose", str(onnx_file), boxes_file=None, person_detector=_whole_image)
    assert served.name == POSE and served.predictor.runner.backend in ("onnxruntime", "openvino")


def test_an_exported_segmentation_file_labels_as_its_checkpoint(tmp_path, shared_data):
    os.environ.setdefault("HRSEG_SHARED", str(shared_data.parent))
    ckpt, _ = _checkpoint(segmentation.TASK, tmp_path / "seg.pth", {"model.name": SEG, "test.crop_size": [128, 256]})
    _export([SEG, "--weights", str(ckpt), "--out", str(tmp_path / "seg.onnx")])
    image = read_image(shared_data / PHOTO)[:160, :240]
    labels = segmentation.TASK.build_predictor(tmp_path / "seg.onnx")(image)
    eager = segmentation.TASK.build_predictor(ckpt, cfg_options=["test.backend=torch"])(image)
    assert labels.shape == eager.shape == image.shape[:2] and (labels == eager).mean() > 0.99


def test_a_fixed_size_segmentation_file_labels_images_smaller_than_its_windows(tmp_path, shared_data, caplog):
    """A fixed-size graph took no image smaller than its size ("exported for 128x256 inputs, got
    100x150"), and its self-check ran on the graph alone: its windows are now padded to its size
    (test.pad_to_crop, in its record), and the check goes through the predictor's windows."""
    os.environ.setdefault("HRSEG_SHARED", str(shared_data.parent))
    ckpt, _ = _checkpoint(segmentation.TASK, tmp_path / "seg.pth", {"model.name": SEG})
    with caplog.at_level(logging.INFO, logger="hrseg"):
        _export([SEG, "--weights", str(ckpt), "--fixed-size", "--input-size", "128x256", "--check-image",
                 str(shared_data / PHOTO), "--out", str(tmp_path / "seg.onnx")])
    assert "through the predictor" in caplog.text and "-> passed" in caplog.text
    assert read_meta(tmp_path / "seg.onnx")["config"]["test"]["pad_to_crop"] is True
    image = read_image(shared_data / PHOTO)[:100, :150]
    labels = segmentation.TASK.build_predictor(tmp_path / "seg.onnx")(image)
    eager = segmentation.TASK.build_predictor(ckpt, cfg_options=[
        "test.backend=torch", "test.mode=slide", "test.crop_size=[128,256]", "test.pad_to_crop=true"])(image)
    assert labels.shape == eager.shape == image.shape[:2] and (labels == eager).mean() > 0.99


@pytest.fixture(scope="module")
def det_files(tmp_path_factory, shared_data):
    os.environ.setdefault("HRSEG_SHARED", str(shared_data.parent))
    out = tmp_path_factory.mktemp("exported_det")
    ckpt, _ = _checkpoint(detection.TASK, out / "det.pth", {
        "model.name": DET, "model.num_classes": 3, "model.min_size": 160, "model.max_size": 224},
        classes=[{"id": 3, "name": "car"}, {"id": 1, "name": "person"}])
    _export([DET, "--weights", str(ckpt), "--score-thr", "0.5", "--out", str(out / "det.onnx")])
    return ckpt, out / "det.onnx"


def test_an_exported_detector_file_detects_as_its_checkpoint(det_files, shared_data):
    """A file exported with --score-thr 0.5 reports from 0.5 by default (it returns nothing under
    it; the default 0.3 was refused, so hrseg serve could not start with it), and says so."""
    ckpt, onnx_file = det_files
    image = read_image(shared_data / PHOTO)
    from_file = detection.TASK.build_predictor(onnx_file)
    eager = detection.TASK.build_predictor(ckpt, cfg_options=["test.backend=torch"], score_thr=0.5)
    a, b = from_file(image), eager(image)
    assert from_file.score_thr == from_file.score_floor == pytest.approx(0.5) and len(a) == len(b) > 0
    assert {d["label"] for d in a} == {d["label"] for d in b}
    described = from_file.describe()
    assert described["score_floor"] == 0.5 and described["exported"]["file"].endswith("det.onnx")
    with pytest.raises(ConfigError, match="score_thr 0.3: .* at least 0.5; ask for at least that, or export"):
        from_file.configured(score_thr=0.3)(image)
    from hrseg.serve.models import load_model

    assert load_model("det", str(onnx_file)).predictor.score_thr == 0.5  # hrseg serve --det det.onnx


def test_an_exported_file_of_another_task_or_without_its_config_is_one_error(pose_files, tmp_path, shared_data):
    _, onnx_file = pose_files
    with pytest.raises(CheckpointError, match="pose.onnx: holds a pose model .*, not a seg model"):
        segmentation.TASK.load_model(onnx_file)
    bare = tmp_path / "bare.onnx"  # what the backends' cache holds of a model that records nothing: no run config
    unnamed = randomize_weights(hrseg.build_model(POSE))
    del unnamed.meta  # as a model built with an override
    export_model(unnamed, bare, POSE, (64, 48), check=False)
    with pytest.raises(UnnamedModelError, match="bare.onnx: exported without its config"):
        pose.TASK.load_model(bare)
    library = tmp_path / "library.onnx"  # a model hrseg.build_model made records its model: the defaults run it
    export_model(randomize_weights(hrseg.build_model(POSE)), library, POSE, (64, 48), check=False)
    assert pose.TASK.load_model(library)[1]["data"]["input_size"] == [64, 48]  # the graph's size
    given = pose.TASK.load_config(None, {"model.name": "pose_hrnet_w32", "data.input_size": [64, 48],
                                         "data.heatmap_size": [16, 12]})
    assert pose.TASK.load_model(bare, given)[1]["model"]["name"] == POSE  # --config: the file's model kept
    with pytest.raises(ConfigError, match="the torch backend runs a model and its checkpoint, not an exported file"):
        pose.TASK.build_predictor(onnx_file, cfg_options=["test.backend=torch"], person_detector=_whole_image)
    from hrseg.tasks.export_source import export_source

    with pytest.raises(ConfigError, match="pose.onnx: an exported file; export from the checkpoint"):
        export_source(POSE, onnx_file)


def test_an_exported_detector_finds_the_people_for_pose(det_files, shared_data):
    from hrseg.tasks.person_boxes import load_person_detector

    ckpt, onnx_file = det_files
    image = read_image(shared_data / PHOTO)
    a, b = load_person_detector(onnx_file, 0.5)(image), load_person_detector(ckpt, 0.5)(image)
    assert len(a) == len(b) > 0 and np.allclose(sorted(a), sorted(b), atol=1.0)  # pixels
    with pytest.raises(ConfigError, match="score_thr 0.3: the exported graph returns only detections scoring at "
                                          "least 0.5"):
        load_person_detector(onnx_file, 0.3)


def test_the_backends_exports_are_checked_through_the_tasks_predictor(pose_files, det_files, tmp_path, caplog,
                                                                       monkeypatch):
    """``--backend onnxruntime`` with a checkpoint exports it into the cache; that export's
    self-check goes through the task's predictor (the flip test's mirrors included), as
    ``hrseg export``'s does (it was the graph's alone)."""
    monkeypatch.setenv("HRSEG_HOME", str(tmp_path / "home"))  # an empty export cache
    with caplog.at_level("INFO", logger="hrseg"):
        pose.TASK.build_predictor(pose_files[0], cfg_options=["test.backend=onnxruntime"],
                                  person_detector=_whole_image)
        detection.TASK.build_predictor(det_files[0], cfg_options=["test.backend=onnxruntime"], score_thr=0.5)
    checks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("self-check")]
    assert len(checks) == 2 and all("-> passed" in c for c in checks)
    assert "through the predictor, 2 forward(s)" in checks[0] and "through the predictor, 1 forward(s)" in checks[1]


def test_an_exported_detector_evaluated_from_its_own_floor_says_so(det_files, shared_data, tmp_path, caplog):
    from conftest import coco_subset, write_json_file

    coco = shared_data / "coco_mini"
    ann = write_json_file(tmp_path / "inst.json", coco_subset(json.loads((coco / "instances.json").read_text()), [790]))
    cfg = detection.TASK.load_config(None, {"model.name": DET, "data.synthetic": None})
    with caplog.at_level("WARNING", logger="hrseg"):
        detection.TASK.test(cfg, det_files[1], tmp_path / "out", ann_file=ann, img_dir=coco / "images")
    assert "returns only detections scoring 0.5 or more: the AP counts those alone" in caplog.text


def test_a_fixed_size_pose_file_crops_at_its_size_beside_another_config(pose_files, tmp_path):
    """``hrseg test pose CONFIG --weights pose.onnx``: the file's 64x48, not the config's 256x192
    (the graph refused the config's crops)."""
    _, onnx_file = pose_files
    given = pose.TASK.load_config(None, {"model.name": POSE})
    assert given["data"]["input_size"] == [256, 192]
    _, cfg = pose.TASK.load_model(onnx_file, given)
    assert cfg["data"]["input_size"] == [64, 48] and cfg["data"]["heatmap_size"] == [16, 12]


def test_a_backend_a_file_cannot_take_is_said_before_anything_is_fetched(pose_files, monkeypatch):
    from hrseg.tasks import pose as pose_module

    _, onnx_file = pose_files
    monkeypatch.setattr(pose_module, "find_person_detector", lambda *a, **k: pytest.fail("looked for a detector"))
    with pytest.raises(ConfigError, match="the torch backend runs a model and its checkpoint, not an exported file"):
        pose.TASK.build_predictor(onnx_file, cfg_options=["test.backend=torch"])
    with pytest.raises(ConfigError, match="ONNX Runtime's CPU provider has no bfloat16 convolutions"):  # --dtype heard
        pose.TASK.build_predictor(onnx_file, cfg_options=["test.backend=onnxruntime", "test.dtype=bfloat16"])
