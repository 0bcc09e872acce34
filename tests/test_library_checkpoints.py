"""A model made with ``hrseg.build_model`` records what it expects (its ``meta``: task, input size,
normalisation, its name), so a file ``hrseg.save_checkpoint`` writes of it -- fine-tuned in a user's own
loop -- runs in the tools and the tasks without a config, as a trained run's checkpoint does; a file that
records no model still asks for one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hrseg
from hrseg.errors import CheckpointError
from hrseg.models.registry import model_info
from hrseg.tasks import detection, pose, segmentation
from hrseg.tasks.loading import UnnamedModelError

from conftest import randomize_weights

POSE = "pose_effhrnet_b1"  # its recipe crops at 336x252, not the pose defaults' 256x192
SEG = "seg_hrnetv2_w18_small_v1"
DET = "det_fasterrcnn_hrnetv2p_w18_small_v1"


def _saved(model: torch.nn.Module, path) -> torch.nn.Module:
    hrseg.save_checkpoint(path, model)
    return model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_built_model_carries_what_it_expects_and_an_override_drops_it():
    model = hrseg.build_model(POSE)
    assert model.meta == {**model_info(POSE).to_dict(), "model": POSE}
    assert model.meta["input_size"] == [336, 252] and model.meta["task"] == "pose"
    # num_classes changes what it predicts: the registry's dataset would be wrong, so no meta (a config names it)
    assert getattr(hrseg.build_model(SEG, num_classes=5), "meta", None) is None


def test_a_saved_library_pose_model_runs_at_its_recipes_size(tmp_path):
    model = _saved(randomize_weights(hrseg.build_model(POSE)), tmp_path / "mine.pth")
    loaded, cfg = pose.TASK.load_model(tmp_path / "mine.pth")
    assert cfg["model"]["name"] == POSE and _same_weights(loaded, model)
    assert cfg["data"]["input_size"] == [336, 252] and cfg["data"]["heatmap_size"] == [84, 63]
    assert cfg["data"]["sigma"] == pytest.approx(2.0 * 84 / 64)  # scaled with the heatmaps, as the recipes
    assert pose.keypoint_set(cfg).num_joints == 17  # COCO's person, the model's dataset
    predictor = pose.TASK.build_predictor(tmp_path / "mine.pth", person_detector=lambda im: [[0, 0, 64, 96, 1.0]])
    people = predictor(np.zeros((96, 64, 3), np.uint8))
    assert len(people) == 1 and len(people[0]["keypoints"]) == 17 and "left_ear" in people[0]["keypoints"]
    # --cfg-options still go last; a config given beside it keeps the file's model
    assert pose.TASK.load_model(tmp_path / "mine.pth", cfg_options=["test.flip=false"])[1]["test"]["flip"] is False
    given = pose.TASK.load_config(None, {"model.name": "pose_hrnet_w32"})
    assert pose.TASK.load_model(tmp_path / "mine.pth", given)[1]["model"]["name"] == POSE


def test_a_saved_segmentation_model_keeps_its_classes(tmp_path):
    cityscapes = _saved(hrseg.build_model(SEG), tmp_path / "cityscapes.pth")
    assert segmentation.TASK.load_model(tmp_path / "cityscapes.pth")[1]["data"]["type"] == "cityscapes"
    three = hrseg.build_model(SEG, num_classes=3)  # a user's own classes: their meta says so
    three.meta = {**cityscapes.meta, "classes": ["road", "kerb", "grass"], "dataset": "folder"}
    _saved(randomize_weights(three), tmp_path / "three.pth")
    loaded, cfg = segmentation.TASK.load_model(tmp_path / "three.pth")
    assert cfg["model"]["num_classes"] == 3 and segmentation.class_names(cfg) == ("road", "kerb", "grass")
    assert loaded.meta["classes"] == ["road", "kerb", "grass"] and _same_weights(loaded, three)


def test_a_saved_detector_keeps_its_classes(tmp_path):
    classes = [{"id": 1, "name": "person"}, {"id": 7, "name": "kite"}]
    model = hrseg.build_model(DET, num_classes=3)
    model.meta = {**model_info(DET).to_dict(), "model": DET, "classes": classes}
    _saved(model, tmp_path / "det.pth")
    loaded, cfg = detection.TASK.load_model(tmp_path / "det.pth")
    assert cfg["classes"] == classes and cfg["model"]["num_classes"] == 3 and loaded.classes == classes


def test_a_saved_multitask_model_keeps_its_keypoint_set(tmp_path):
    """The multi-task model's meta holds COCO's keypoint set itself, so its file loads with a set the
    predictor reads (it held the set's name, a string in the config)."""
    from hrseg.meta.keypoints import COCO_PERSON
    from hrseg.tasks import multi

    path = hrseg.save_checkpoint(tmp_path / "multi.pth", hrseg.build_model("multi_hrnetv2p_w18_small_v1"))
    model, cfg = multi.TASK.load_model(path)
    assert multi.keypoint_set(cfg) == COCO_PERSON


def test_a_file_recording_no_model_still_needs_a_config(tmp_path):
    model = hrseg.build_model(POSE)
    del model.meta  # as a model built with an override, or a file saved with torch.save
    _saved(model, tmp_path / "bare.pth")
    with pytest.raises(UnnamedModelError, match="bare.pth: the file records no model"):
        pose.TASK.load_model(tmp_path / "bare.pth")
    _saved(hrseg.build_model(SEG), tmp_path / "seg.pth")  # and the file's task is still checked
    with pytest.raises(CheckpointError, match="seg.pth: holds a seg model"):
        pose.TASK.load_model(tmp_path / "seg.pth")
