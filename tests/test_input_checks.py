"""Bad or mismatched inputs are one clear error or warning naming the file: weights verify, empty
detection training splits, malformed pose annotations, a coco_split typo, person boxes files that
do not fit their inputs, partial person detections, truncated videos, OpenCV's codec probe, the
configs listing by task, and the temporaries a killed atomic write leaves."""
from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import coco_subset, write_json_file
from hrseg.commands._dispatch import main as hrseg_main
from hrseg.commands.configs import config_task, task_configs
from hrseg.configs_index import list_configs
from hrseg.data.coco import is_numbers, listed
from hrseg.data.det.coco_instances import CocoInstances, load_coco_instances
from hrseg.data.det.dataset import CocoDetection
from hrseg.data.pose.coco_keypoints import CocoKeypoints, load_coco_keypoints, split_image_ids
from hrseg.data.pose.dataset import CocoPoseDataset
from hrseg.errors import CheckpointError, ConfigError, DataError
from hrseg.inference import video
from hrseg.inference.person_boxes import PersonBoxes, check_coverage, read_boxes
from hrseg.utils.image_io import read_image
from hrseg.utils.io import atomic_path, remove_stale_temporaries, write_json
from hrseg.weights import verify


# -- 1. weights verify -------------------------------------------------------------------------
def test_verify_names_a_missing_file_or_a_folder(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="missing.pth: checkpoint file not found"):
        verify(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=f"{re.escape(str(tmp_path))}: a folder, not a checkpoint file"):
        verify(tmp_path)
    assert hrseg_main(["weights", "verify", str(tmp_path / "missing.pth")]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "missing.pth: checkpoint file not found" in err and "Traceback" not in err
    ok = tmp_path / "ok.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, ok)
    assert verify(ok)["tensors"] == 1


# -- 2. detection: a training split without boxes ------------------------------------------------
def _instances_file(tmp_path: Path, annotations: list) -> Path:
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
                      {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48}],
           "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    return write_json_file(tmp_path / "instances_train.json", doc)


def test_detection_refuses_a_training_split_without_boxes(tmp_path, caplog):
    inst = CocoInstances(_instances_file(tmp_path, []))
    with pytest.raises(DataError, match='instances_train.json: nothing to train a detector on: its "annotations" '
                                       "list is empty"):
        CocoDetection(inst, tmp_path, train=True)
    with caplog.at_level(logging.WARNING):  # val: predictions can still be written
        assert len(CocoDetection(inst, tmp_path, train=False)) == 2
    assert "instances_train.json" in caplog.text and "box AP is undefined" in caplog.text
    crowd_and_tiny = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 1},
                      {"id": 2, "image_id": 2, "category_id": 1, "bbox": [5, 5, 0.5, 10]}]
    inst = CocoInstances(_instances_file(tmp_path, crowd_and_tiny))
    with pytest.raises(DataError, match="all 1 non-crowd box.* under 1 px"):
        CocoDetection(inst, tmp_path, train=True)
    boxed = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 10]}]
    inst = CocoInstances(_instances_file(tmp_path, boxed))
    assert len(CocoDetection(inst, tmp_path, train=True)) == 2  # an image without boxes trains the background
    with pytest.raises(DataError, match="none of the 1 image.* has a non-crowd box"):
        CocoDetection(inst, tmp_path, train=True, img_ids=[2])


# -- 3. pose annotations: say what they hold -----------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("keypoints", "oops", r'has keypoints "oops"; expected a list of 51 numbers \(x, y, visibility for each of '
                          r"its 17 keypoints\)"),
    ("keypoints", [0, 0, "2"] * 17, r'has keypoints \[0, 0, "2", .*; expected a list of 51 numbers'),
    ("keypoints", [0] * 48, "has 48 keypoint values; expected a list of 51 numbers"),
    ("bbox", "1,2,3,4", r'has bbox "1,2,3,4"; expected \[x, y, width, height\], four finite numbers'),
    ("bbox", [1, 2, 3], r"has bbox \[1, 2, 3\]; expected \[x, y, width, height\]"),
    ("bbox", [1, 2, -3, 4], r"has bbox \[1, 2, -3, 4\]; expected .* width, height >= 0"),
])
def test_pose_annotation_errors_say_what_they_got(tmp_path, coco_mini_keypoints, field, value, message):
    data = coco_subset(coco_mini_keypoints, [785])
    data["annotations"][0][field] = value
    with pytest.raises(DataError, match=f"bad.json: annotation id 442619 {message}"):
        load_coco_keypoints(write_json_file(tmp_path / "bad.json", data))


def test_pose_and_detection_loaders_word_a_bad_bbox_alike(tmp_path, coco_mini_keypoints):
    data = coco_subset(coco_mini_keypoints, [785])
    data["annotations"][0]["bbox"] = "1,2,3,4"
    messages = []
    for load in (load_coco_keypoints, load_coco_instances):
        with pytest.raises(DataError) as err:
            load(write_json_file(tmp_path / "bad.json", data))
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert is_numbers([1, 2.5]) and not is_numbers([True]) and not is_numbers([float("inf")])
    assert listed(list(range(8)), 3) == "0, 1, 2 and 5 more"


# -- 4. coco_split typo ---------------------------------------------------------------------------
def test_an_unknown_coco_split_names_the_split_and_those_the_file_has(coco_mini):
    coco = load_coco_keypoints(coco_mini / "person_keypoints.json")
    assert len(split_image_ids(coco, "val2017")) == 21
    with pytest.raises(DataError, match=r"person_keypoints.json: no image has coco_split 'val2071' "
                                        r"\(data.\*.coco_split\); the file's splits are 'train2017', 'val2017'"):
        split_image_ids(coco, "val2071", coco_mini / "person_keypoints.json")
    with pytest.raises(DataError, match="person_keypoints.json: no person instances to use in the 0 of 74 "
                                        "image.* selected by data.*.img_ids / coco_split"):
        CocoPoseDataset(coco_mini / "person_keypoints.json", coco_mini / "images", train=True, img_ids=[])


def test_a_missing_pose_val_image_stops_the_run_before_training(tmp_path, coco_mini_keypoints, coco_mini):
    from hrseg.tasks import pose

    data = coco_subset(coco_mini_keypoints, [785])
    data["images"][0]["file_name"] = "not_here.jpg"
    ann = write_json_file(tmp_path / "val.json", data)
    cfg = pose.load_pose_config(None, {"data.root": str(tmp_path), "data.val.ann_file": "val.json",
                                       "data.val.img_dir": str(coco_mini / "images"), "data.synthetic": None})
    with pytest.raises(DataError, match="1 image file.s. of .*val.json not found: .*not_here.jpg"):
        pose.TASK.build_dataset(cfg, "val")
    write_json_file(ann, coco_subset(coco_mini_keypoints, [785]))  # the image's own name: it builds
    assert len(pose.TASK.build_dataset(cfg, "val")) > 0


# -- 5. person boxes files ------------------------------------------------------------------------
def test_a_flat_box_is_one_clear_error(tmp_path):
    path = write_json_file(tmp_path / "boxes.json", {"zidane.jpg": [10, 20, 100, 200]})
    with pytest.raises(DataError, match=r"boxes.json: entry 'zidane.jpg' is one box \[10, 20, 100, 200\], "
                                        r"not a list of boxes"):
        read_boxes(path)
    with pytest.raises(DataError, match=r"boxes.json: entry 'a.jpg' holds \[\[1, 2\]\]; expected a list of boxes"):
        read_boxes(write_json_file(tmp_path / "boxes.json", {"a.jpg": [[1, 2]]}))
    with pytest.raises(DataError, match=r'boxes.json: detection for image id 7 has bbox "1,2,3,4"'):
        read_boxes(write_json_file(tmp_path / "boxes.json", [{"image_id": 7, "bbox": "1,2,3,4", "score": 1}]))
    assert read_boxes(write_json_file(tmp_path / "boxes.json", {"a.jpg": [[1, 2, 3, 4]], "b.jpg": []})) == {
        "a.jpg": [[1.0, 2.0, 3.0, 4.0]], "b.jpg": []}


def test_inputs_without_boxes_are_warned_about(tmp_path, coco_mini, caplog):
    dets = write_json_file(tmp_path / "dets.json",
                           [{"image_id": 785, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.9}])
    photos = [Path("photos/000000000785.jpg"), Path("photos/000000000872.jpg"), Path("photos/b.jpg")]
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        missing = PersonBoxes(dets).check_inputs(photos)
    assert missing == photos[1:]
    assert ("dets.json: its entries cover 1 of 3 inputs (none for 000000000872.jpg, b.jpg): those get no people"
            in caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hrseg"):  # a file for other images: say what its keys are
        check_coverage(read_boxes(coco_mini / "person_keypoints.json"), [Path("zidane.jpg"), Path("bus.jpg")],
                       coco_mini / "person_keypoints.json")
    assert "cover 0 of 2 inputs (none for zidane.jpg, bus.jpg)" in caplog.text
    assert re.search(r"its keys look like '000000000785.jpg', '\d{12}.jpg', '\d{12}.jpg' and 71 more \(an input "
                     r"matches by its file name, stem or number", caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        assert PersonBoxes(dets).check_inputs([photos[0]]) == []
    assert not caplog.text


def test_a_json_boxes_file_is_refused_for_a_video(tmp_path):
    dets = write_json_file(tmp_path / "dets.json", {"a.jpg": [[1, 2, 30, 40]]})
    boxes = PersonBoxes(dets)
    with pytest.raises(DataError, match=r"dets.json: a JSON boxes file gives boxes per photo, not per frame of a "
                                        r"video \(.*clip.mp4\); for a video give a MOTChallenge .txt file"):
        boxes.check_inputs([], [tmp_path / "clip.mp4"])
    with pytest.raises(DataError, match="dets.json: a JSON boxes file gives boxes per photo"):
        boxes.reset()  # what every video starts with
    mot = tmp_path / "dets.txt"
    mot.write_text("1, -1, 1, 2, 30, 40, 0.9\n")
    assert PersonBoxes(mot).check_inputs([], [tmp_path / "clip.mp4"]) == []
    PersonBoxes(mot).reset()


# -- 6. person detections for pose evaluation -----------------------------------------------------
def test_partial_detections_are_warned_about(coco_mini, tmp_path, caplog):
    val = split_image_ids(load_coco_keypoints(coco_mini / "person_keypoints.json"), "val2017")
    adapter = CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images", img_ids=val)
    with caplog.at_level(logging.WARNING):
        people = adapter.detection_instances(coco_mini / "person_detections_AP_H_56.json")
    assert {p.image_id for p in people} == {785, 40083, 196141, 197388}
    assert re.search(r"person_detections_AP_H_56.json: detections cover 4 of \d+ images with labelled people "
                     r"\(none for .*\); their people count as missed", caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        CocoKeypoints(coco_mini / "person_keypoints.json", coco_mini / "images", img_ids=[785]).detection_instances(
            coco_mini / "person_detections_AP_H_56.json")
    assert "cover" not in caplog.text
    bad = write_json_file(tmp_path / "dets.json", [{"image_id": 785, "category_id": 1, "bbox": "1,2,3,4", "score": 1}])
    with pytest.raises(DataError, match=r'dets.json: detection for image id 785 has bbox "1,2,3,4"'):
        adapter.detection_instances(bad)


# -- 7. video -------------------------------------------------------------------------------------
def test_a_truncated_video_is_warned_about(tmp_path, caplog):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(6):
        writer.write(np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = path.read_bytes()
    movi = data.index(b"movi")
    chunks = [m.start() for m in re.finditer(b"00dc", data) if m.start() > movi]
    path.write_bytes(data[:chunks[4]])  # four whole frames; the header still says six
    assert video.open_frames(path).count == 6
    with caplog.at_level(logging.WARNING, logger="hrseg"):
        summary = video.process_video(path, tmp_path / "out", lambda f: ({}, f), progress=False)
    assert summary["frames"] == 4
    assert "clip.avi: the container says 6 frames, but only 4 decoded" in caplog.text


def test_the_codec_probe_prints_nothing_and_keeps_the_log_level(monkeypatch, capfd):
    monkeypatch.setattr(video, "_CODEC_CACHE", {})
    api = getattr(cv2.utils, "logging", None) or cv2  # OpenCV 5 and 4 (the lower bound)
    level = api.getLogLevel()
    video.pick_codec((64, 48))
    assert "VideoWriter" not in capfd.readouterr().err
    assert api.getLogLevel() == level


# -- 8. configs by task ---------------------------------------------------------------------------
def test_configs_are_listed_under_their_task(capsys):
    effnet = {e.name: e for e in list_configs("effnet")}
    assert config_task(effnet["progressive_synthetic_seg"]) == "seg"
    assert config_task(effnet["progressive_synthetic"]) == "pose"
    pose = {e.name for e in task_configs("pose")}
    seg = {e.name for e in task_configs("seg")}
    assert {"progressive_synthetic", "effhrnet_b2_coco_336x252", "hrnet_w32_coco_256x192"} <= pose
    assert {"progressive_synthetic_seg", "progressive_study_seg_small", "hrnetv2_w48_lip_473x473"} <= seg
    assert not pose & {"progressive_synthetic_seg", "progressive_study_seg_small"}
    assert hrseg_main(["configs", "seg"]) == 0
    out = capsys.readouterr().out
    assert "progressive_synthetic_seg" in out and "effnet/" in out and "hrnet_w32_coco_256x192" not in out


# -- 9. temporaries of a killed atomic write ------------------------------------------------------
def test_stale_temporaries_are_removed_and_nothing_else(tmp_path, monkeypatch):
    target = tmp_path / "latest.pth"

    class Killed(BaseException):
        """Stands in for kill -9: the writer's cleanup never runs."""

    made = []
    with pytest.raises(Killed):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x" * 1000)
            made.append(tmp)
            monkeypatch.setattr(Path, "exists", lambda self: False)  # the finally block finds nothing to remove
            raise Killed
    monkeypatch.undo()
    assert made[0].is_file() and re.fullmatch(r"\.latest\.[a-z0-9_]{8}\.pth", made[0].name)
    keep = ["latest.pth", ".latest.pth", ".latest.abc.pth", ".latest.abcdefghi.pth", ".latest.abcdefgh.pt",
            ".best.abcdefgh.pth", "x.latest.abcdefgh.pth", ".latest.ABCDEFGH.pth"]
    for name in keep:
        (tmp_path / name).write_text("keep")
    (tmp_path / ".latest.zzzzzzzz.pth").mkdir()  # a folder is never removed
    assert remove_stale_temporaries(target) == [made[0]]
    assert not made[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + [".latest.zzzzzzzz.pth"])
    assert remove_stale_temporaries(target) == []
    assert remove_stale_temporaries(tmp_path / "nowhere" / "latest.pth") == []


class _BadSample(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int):
        raise DataError("masks/0.png: label values [7] are outside 0..2")


def test_a_data_error_in_a_loader_worker_is_one_line():
    """torch re-raises a worker's exception with the worker's whole traceback in its message (31
    lines for a bad mask); the CLI prints the error's own message."""
    from hrseg.cli import error_message

    loader = torch.utils.data.DataLoader(_BadSample(), num_workers=1)
    with pytest.raises(DataError) as caught:
        next(iter(loader))
    assert "Original Traceback" in str(caught.value)  # torch's wrapping, as it is
    assert error_message(caught.value) == "masks/0.png: label values [7] are outside 0..2"
    assert error_message(DataError("a.png: not a readable image")) == "a.png: not a readable image"


def test_a_missing_tracking_extra_is_said_before_the_weights_load(monkeypatch, tmp_path):
    from hrseg.errors import MissingExtraError
    from hrseg.tasks import pose

    monkeypatch.setitem(sys.modules, "trackers", None)  # as if the [track] extra were not installed
    with pytest.raises(MissingExtraError, match=r"tracking needs the \[track\] extra"):  # not: weights not found
        pose.TASK.build_predictor(tmp_path / "missing.pth", track=True)
    with pytest.raises(ConfigError, match="--smooth .* give --track too"):
        pose.TASK.build_predictor(tmp_path / "missing.pth", smooth=True)


def test_a_bad_input_is_said_before_the_weights_load(tmp_path, monkeypatch):
    """infer loaded its weights (an export, a detector download's warning) before it looked at the
    inputs: a missing or undecodable image now stops it first, and no output folder is made."""
    from hrseg.tasks import base, pose

    monkeypatch.setattr(base.Task, "build_predictor", lambda *a, **k: pytest.fail("weights loaded"))
    (tmp_path / "fake.jpg").write_text("not an image")
    for bad, message in ((tmp_path / "missing.jpg", "missing.jpg: image file not found"),
                         (tmp_path / "fake.jpg", "fake.jpg")):
        with pytest.raises(Exception, match=message):
            pose.TASK.infer([str(bad)], None, "weights.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_json_outputs_are_strict_json(tmp_path):
    """A class absent from prediction and labels has IoU NaN: Python wrote it as NaN, which is no
    JSON (JavaScript's JSON.parse and strict readers refuse it); it is null now, the rest as it was."""
    path = write_json(tmp_path / "m.json", {"mIoU": 0.5, "per_class": [0.25, float("nan")], "x": (float("inf"), 1)})
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"not JSON: {c}")) == \
        {"mIoU": 0.5, "per_class": [0.25, None], "x": [None, 1]}


def test_a_png_cut_short_is_one_error_and_no_libpng_line(tmp_path, capfd):
    """libpng printed "libpng error: PNG input buffer is incomplete" before hrseg's own error."""
    image = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    data = cv2.imencode(".png", image)[1].tobytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "whole.png").write_bytes(data)
    with pytest.raises(DataError, match=r"half.png: not a readable image \(a PNG cut short"):
        read_image(tmp_path / "half.png")
    assert "libpng" not in capfd.readouterr().err
    assert np.array_equal(read_image(tmp_path / "whole.png"), image[..., ::-1])
