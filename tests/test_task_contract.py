"""The task contract and what travels with models: one checkpoint read, one policy for a
recorded config, the meta every registered model and checkpoint carries, and the small
behaviours of the inference tools (folders, tiny images, log-file progress)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import pytest
from PIL import Image

import hrseg
from hrseg.errors import CheckpointError, ConfigError, DataError
from hrseg.utils.progress import LineProgress, progress_bar, progress_iter
from hrseg.meta.keypoints import COCO_PERSON
from hrseg.models.registry import model_info
from hrseg.tasks import detection, pose, segmentation
from hrseg.utils.image_io import read_image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import infer_pose  # noqa: E402


def test_every_registered_model_has_an_info_record():
    tasks = {name: model_info(name).task for name in hrseg.list_models()}
    assert set(tasks.values()) <= {"pose", "seg", "det", "multi", "backbone", "neck"}
    assert tasks["pose_hrnet_w32"] == "pose" and tasks["seg_hrnetv2_ocr_w48"] == "seg"
    assert tasks["det_fasterrcnn_hrnetv2p_w32"] == "det" and tasks["hrnet_w18"] == "backbone"
    assert model_info("pose_hrnet_w48").input_size == (256, 192)
    assert hrseg.list_models(task="backbone") == [n for n, t in sorted(tasks.items()) if t == "backbone"]


def _pose_checkpoint(tmp_path: Path) -> Path:
    cfg = pose.load_pose_config(None, {"model.name": "pose_hrnet_w18_small_v1", "data.input_size": [64, 48],
                                       "data.heatmap_size": [16, 12], "data.sigma": 1.0})
    model = pose.TASK.build_model(cfg)
    return hrseg.save_checkpoint(tmp_path / "pose.pth", model,
                                 meta={"config": cfg, "model": pose.TASK.model_meta(cfg)})


def test_load_model_reads_the_file_once_and_follows_the_recorded_config(tmp_path, monkeypatch):
    path = _pose_checkpoint(tmp_path)
    reads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or real_load(*a, **k))
    model, cfg = pose.TASK.load_model(path)
    assert len(reads) == 1
    assert cfg["model"]["name"] == "pose_hrnet_w18_small_v1" and cfg["data"]["input_size"] == [64, 48]
    assert model.meta["keypoints"] == COCO_PERSON.to_dict() and model.meta["input_size"] == [64, 48]
    # with a config given, its settings are used but the model is the checkpoint's
    other = pose.load_pose_config(None, {"test.flip": False})
    model, cfg = pose.TASK.load_model(path, other)
    assert cfg["model"]["name"] == "pose_hrnet_w18_small_v1" and cfg["test"]["flip"] is False
    assert not model.training


def test_each_task_declares_the_same_contract():
    for task in (pose.TASK, segmentation.TASK, detection.TASK):
        for hook in ("build_dataset", "build_model", "load_model", "evaluate", "runner", "predictor", "build_predictor",
                     "write_prediction", "train", "test", "infer"):
            assert callable(getattr(task, hook))
        assert task.defaults["model"]["name"] in hrseg.list_models()


def test_bad_weights_fail_before_the_person_detector_is_looked_for(tmp_path, caplog, shared_data):
    """`hrseg infer pose --weights BAD`: the weights are read first, so the one error is theirs
    (no warning about a missing person detector before it)."""
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    photo = shared_data / "images" / "zidane.jpg"
    with caplog.at_level(logging.WARNING, logger="hrseg"), pytest.raises(CheckpointError, match="bad.pth"):
        infer_pose.main([str(photo), "--weights", str(bad), "--out", str(tmp_path / "out")])
    assert "person detector" not in caplog.text and not (tmp_path / "out").exists()


def test_another_tasks_checkpoint_stops_before_any_model_is_built(tmp_path, monkeypatch):
    path = _pose_checkpoint(tmp_path)
    built = []
    monkeypatch.setattr(segmentation.TASK, "build_model", lambda cfg: built.append(cfg) or None)
    for task in (segmentation.TASK, detection.TASK):
        with pytest.raises(CheckpointError, match=f"pose.pth: holds a pose model .pose_hrnet_w18_small_v1., "
                                                  f"not a {task.name} model .the pose commands take it"):
            task.load_model(path)
    assert built == []
    assert pose.TASK.load_model(path)[1]["model"]["name"] == "pose_hrnet_w18_small_v1"


def test_infer_checks_every_input_and_the_outputs_names_before_writing(tmp_path, shared_data):
    path = _pose_checkpoint(tmp_path)
    photo, out = shared_data / "images" / "zidane.jpg", tmp_path / "out"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(DataError, match="broken.mp4: not a readable video"):
        infer_pose.main([str(photo), str(broken), "--weights", str(path), "--out", str(out)])
    videos = [tmp_path / d / "clip.avi" for d in ("a", "b")]  # two videos named clip
    for video in videos:
        video.parent.mkdir()
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
        writer.write(np.zeros((48, 64, 3), np.uint8))
        writer.release()
    with pytest.raises(DataError, match=r"two videos whose outputs would take the same names \('clip'\)"):
        infer_pose.main([str(v) for v in videos] + ["--weights", str(path), "--out", str(out)])
    videos[1].rename(videos[1].with_name("clip_annotated.avi"))  # both would write clip_annotated.<ext>
    with pytest.raises(DataError, match=r"clip_annotated.avi: two videos .* \('clip_annotated'\)"):
        infer_pose.main([str(videos[0]), str(videos[1].with_name("clip_annotated.avi")), "--weights", str(path),
                         "--out", str(out)])
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="file: the output folder is a file"):
        infer_pose.main([str(photo), "--weights", str(path), "--out", str(tmp_path / "file")])
    assert not out.exists()


def test_a_tiny_image_says_why_no_one_was_found(tmp_path, caplog):
    path = _pose_checkpoint(tmp_path)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        assert infer_pose.main([str(tiny), "--weights", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "box(es) under 2 pixels" in caplog.text and "1x1" in caplog.text


def test_infer_takes_folders(tmp_path, shared_data):
    path = _pose_checkpoint(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("zidane.jpg", "astronaut.png"):
        (folder / name).write_bytes((shared_data / "images" / name).read_bytes())
    out = tmp_path / "out"
    assert infer_pose.main([str(folder), "--weights", str(path), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*_pose.json")) == ["astronaut_pose.json", "zidane_pose.json"]


def test_palette_and_grayscale_images_load_as_rgb(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    palette = read_image(tmp_path / "palette.png")
    assert palette.shape == (12, 16, 3)
    assert (palette == np.array(Image.open(tmp_path / "palette.png").convert("RGB"))).all()
    gray = read_image(tmp_path / "gray.png")
    assert gray.shape == (12, 16, 3) and (gray[..., 0] == gray[..., 2]).all()


def test_progress_off_a_terminal_is_a_line_every_interval(caplog):
    assert isinstance(progress_bar(10, "epoch 1/2"), LineProgress)  # pytest captures stderr: not a terminal
    with caplog.at_level(logging.INFO, logger="hrseg"):
        with LineProgress(100, "epoch 1/2", interval=0.0) as bar:
            bar.set_postfix(loss="0.1")
            for _ in range(3):
                bar.update(1)
        quiet = LineProgress(100, "epoch 2/2", interval=3600.0)
        for _ in range(50):
            quiet.update(1)
    lines = [r.getMessage() for r in caplog.records]
    assert "epoch 1/2: 3/100, loss 0.1" in lines
    assert not any(line.startswith("epoch 2/2") for line in lines)


def test_evaluation_loops_report_off_a_terminal_too(caplog):
    """The pose, detection and segmentation evaluations iterate through progress_iter: every item,
    and off a terminal a closing line (and one every 30 s), as training's epochs."""
    with caplog.at_level(logging.INFO, logger="hrseg"):
        assert list(progress_iter(iter(range(5)), 5, "predict")) == list(range(5))
        assert list(progress_iter(range(3), 3, "quiet", disable=True)) == [0, 1, 2]
    lines = [r.getMessage() for r in caplog.records]
    assert "predict: 5/5" in lines and not any(line.startswith("quiet") for line in lines)


def test_a_model_name_says_its_task_and_the_registry_holds_to_it():
    from hrseg.meta.model_names import task_of_name
    from hrseg.models.registry import ModelInfo, list_models, model_info, register_model

    for name in list_models():
        info = model_info(name)
        assert task_of_name(name) == (info.task if info.task in ("pose", "seg", "det", "multi") else None), name
    with pytest.raises(ValueError, match="'seg_misnamed': its name must start with pose_"):
        register_model("seg_misnamed", lambda **kw: None, ModelInfo("pose"))
    with pytest.raises(ValueError, match="'pose_bare': its name must start with no task"):
        register_model("pose_bare", lambda **kw: None)


def test_model_options_apply_to_a_checkpoints_recorded_model(tmp_path):
    """`hrseg test det CONFIG --cfg-options model.box_detections_per_img=5` (and `infer --config`):
    the checkpoint's recorded model section replaced the config's, and the user's options with it."""
    cfg = detection.load_det_config("mini_fasterrcnn", ["model.min_size=96", "model.max_size=96"])
    cfg["model"]["num_classes"] = 3
    path = hrseg.save_checkpoint(tmp_path / "det.pth", detection.TASK.build_model(cfg),
                                 meta={"config": cfg, "model": detection.TASK.model_meta(cfg)})
    options = ["model.box_detections_per_img=5", "model.box_nms_thresh=0.1"]
    model, out = detection.TASK.load_model(path, detection.load_det_config("mini_fasterrcnn", options), options)
    assert (model.roi_heads.detections_per_img, model.roi_heads.nms_thresh) == (5, 0.1)
    assert out["model"]["min_size"] == 96 and out["model"]["num_classes"] == 3  # the rest: the checkpoint's
    model, _ = detection.TASK.load_model(path, detection.load_det_config("mini_fasterrcnn"))
    assert model.roi_heads.detections_per_img == 100 and model.transform.min_size == (96,)


def test_fewer_training_samples_than_a_batch_say_so():
    """5 images and a batch of 8 made "the training loader yields no batch (empty dataset?)"."""
    from hrseg.tasks.common import start_training

    cfg = {"seed": 0, "data": {"batch_size": 8, "num_workers": 0}}
    with pytest.raises(ConfigError, match=r"data.batch_size 8: the 5 training samples make no whole batch"):
        start_training(cfg, lambda c, split: list(range(5)), None)
    assert len(start_training({**cfg, "data": {"batch_size": 5, "num_workers": 0}},
                              lambda c, split: list(range(5)), None)[2]) == 1
