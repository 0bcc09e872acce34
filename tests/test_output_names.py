"""What `hrseg infer` names and says: each input's one line (a photo's printed, a video's logged)
names every file written for it, in one shape for every task (`<stem>_labels.png` of a multi-task
model included), and a video's annotated output neither stacks `_annotated` on an annotated input
nor overwrites its input. Tiny models with random weights and clips of a few 64x48 frames keep it fast."""
from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import hrseg
from hrseg.commands import infer_multi, infer_seg
from hrseg.inference.video import (annotated_video_path, even_size, open_frames, pick_codec, process_video,
                                  written_line)
from hrseg.meta.keypoints import COCO_PERSON
from hrseg.tasks import multi, segmentation

W, H, N = 64, 48, 3
TASKS = {"pose": ("person", "people"), "segmentation": ("class", "classes"), "detection": ("box", "boxes"),
         "multi": ("detection", "detections")}


def _clip(path: Path, n: int = N) -> Path:
    """``n`` frames of a square moving right, Motion-JPEG in ``path`` (an .avi)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for i in range(n):
        frame = np.full((H, W, 3), 20, np.uint8)
        frame[16:32, 8 * i:8 * i + 12] = (40, 40, 250)
        writer.write(frame)
    writer.release()
    return path


def _suffix() -> str:
    """The annotated video's suffix on this OpenCV build (.mp4, else .avi)."""
    return pick_codec(even_size((W, H)))[1]


def _mark(frame: np.ndarray) -> tuple[dict, np.ndarray]:
    """A fake model: the frame's mean as its result, a green band as its drawing."""
    drawn = frame.copy()
    drawn[:4] = (0, 255, 0)
    return {"mean": float(frame.mean())}, drawn


def _said(capsys, caplog) -> str:
    """What a run said of its inputs: the lines it printed, then the lines it logged."""
    return "\n".join([*capsys.readouterr().out.splitlines(), *(r.getMessage() for r in caplog.records)])


def _assert_every_file_named(said: str, out: Path, *inputs: Path) -> None:
    """Each input has one line (``<input>: ... -> <file>, <file>``), and those lines name every
    file under ``out``, each once."""
    lines = [line for line in said.splitlines() if " -> " in line and line.startswith(tuple(f"{i}: " for i in inputs))]
    assert len(lines) == len(inputs), said
    named = [f for line in lines for f in line.split(" -> ", 1)[1].split(", ")]
    assert len(named) == len(set(named)) and sorted(named) == sorted(str(p) for p in out.iterdir()), said


# -- the printed line ----------------------------------------------------------------------------
class _Predictor:
    """What a task's write_prediction asks of a predictor; the result is a label map of two classes."""

    colours = np.array([[0, 0, 0], [250, 40, 40]], np.uint8)

    def draw(self, image: np.ndarray, result: np.ndarray) -> np.ndarray:
        return image

    def document(self, image: np.ndarray, result: np.ndarray) -> dict:
        return {"width": image.shape[1], "height": image.shape[0]}

    def count(self, result: np.ndarray) -> int:
        return 2

    def label_map(self, result: np.ndarray) -> np.ndarray:
        return result


@pytest.mark.parametrize("module", TASKS)
def test_each_tasks_line_names_every_file_it_wrote(module, tmp_path, capsys):
    task = importlib.import_module(f"hrseg.tasks.{module}").TASK
    image, labels = np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.uint8)
    labels[:, W // 2:] = 1
    photo, out = tmp_path / "photo.jpg", tmp_path / "out"
    out.mkdir()
    files = task.write_prediction(out, photo, image, labels, _Predictor())
    assert capsys.readouterr().out == ""  # Task.infer prints the line, for every task alike
    line = written_line(photo, files.values(), _Predictor().count(labels), task.result_noun)
    assert line == f"{photo}: 2 {TASKS[module][1]} -> {', '.join(files.values())}"  # one shape for all
    _assert_every_file_named(line, out, photo)
    assert module != "multi" or files["labels"] == str(out / "photo_labels.png")


# -- the annotated video's name ------------------------------------------------------------------
def test_a_video_is_annotated_once_and_said_so(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="hrseg")
    suffix, clips = _suffix(), [_clip(tmp_path / "in" / "street.avi"), _clip(tmp_path / "in" / "street_annotated.avi")]
    plain = process_video(clips[0], tmp_path / "a", _mark, progress=False)
    again = process_video(clips[1], tmp_path / "b", _mark, progress=False)
    assert Path(plain["video"]) == tmp_path / "a" / f"street_annotated{suffix}"
    assert Path(again["video"]) == tmp_path / "b" / f"street_annotated{suffix}"  # not street_annotated_annotated
    assert Path(again["jsonl"]) == tmp_path / "b" / "street_annotated.jsonl"
    said = [line for line in _said(capsys, caplog).splitlines() if " -> " in line]
    assert [re.sub(r" in [0-9.]+ s \(.*\)", "", line) for line in said] == [
        f"{clips[0]}: {N} frames -> {plain['video']}, {plain['jsonl']}",
        f"{clips[1]}: {N} frames -> {again['video']}, {again['jsonl']}"]


def test_an_annotated_video_run_again_in_its_folder_keeps_it(tmp_path, capsys, caplog):
    """The output of one run given to the next with the same --out: the annotated video is the
    input, so the new one takes another name, and the input is left as it was."""
    caplog.set_level(logging.INFO, logger="hrseg")
    suffix, out, clip = _suffix(), tmp_path / "out", _clip(tmp_path / "street.avi")
    first = process_video(clip, out, _mark, progress=False)
    video = Path(first["video"])
    before = video.read_bytes()
    again = process_video(video, out, lambda f: ({}, 255 - f), progress=False)
    assert video.read_bytes() == before and len(list(open_frames(video))) == N
    assert Path(again["video"]) == out / f"street_annotated_2{suffix}" and len(list(open_frames(again["video"]))) == N
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["street.jsonl", f"street_annotated{suffix}", "street_annotated.jsonl", f"street_annotated_2{suffix}"])
    _assert_every_file_named(_said(capsys, caplog), out, clip, video)


def test_the_annotated_name_rule(tmp_path):
    src = tmp_path / "clip_Annotated.mp4"
    assert annotated_video_path(tmp_path / "clip.mp4", tmp_path, ".mp4") == tmp_path / "clip_annotated.mp4"
    assert annotated_video_path(src, tmp_path / "out", ".avi") == tmp_path / "out" / "clip_Annotated.avi"
    assert annotated_video_path(src, tmp_path, ".mp4") == src  # no such file yet: nothing to keep
    src.write_bytes(b"an input")
    assert annotated_video_path(src, tmp_path, ".mp4") == tmp_path / "clip_Annotated_2.mp4"
    assert annotated_video_path(src, tmp_path, ".avi") == tmp_path / "clip_Annotated.avi"  # another file
    assert annotated_video_path(src, tmp_path, ".mp4", stem="x") == tmp_path / "x_annotated.mp4"


# -- through the commands ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seg_weights(tmp_path_factory) -> Path:
    cfg = segmentation.load_seg_config(None, ["model.name=seg_hrnetv2_w18_small_v1", "test.base_size=64"])
    return hrseg.save_checkpoint(tmp_path_factory.mktemp("seg") / "seg.pth", segmentation.build_seg_model(cfg["model"]),
                                 meta={"config": cfg})


@pytest.fixture(scope="module")
def multi_weights(tmp_path_factory) -> Path:
    """A small multi-task model with every head (boxes, masks, keypoints, seven scene classes)."""
    cfg = multi.load_multi_config("multi/synthetic_mini", ["model.num_classes=2", "model.num_keypoints=17",
                                                           "model.keypoint_label=1", "model.min_size=64",
                                                           "model.max_size=96"])
    cfg.update(classes=[{"id": 1, "name": "person"}], keypoints=COCO_PERSON.to_dict(),
               semantic_classes=[str(i) for i in range(7)])
    torch.manual_seed(0)
    model = multi.TASK.build_model(cfg)
    return hrseg.save_checkpoint(tmp_path_factory.mktemp("multi") / "multi.pth", model,
                                 meta={"config": cfg, "model": multi.TASK.model_meta(cfg)})


def _photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8))
    return path


def test_infer_multi_names_the_label_map_and_the_videos_files(multi_weights, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="hrseg")
    photo, clip, out = _photo(tmp_path / "photo.png"), _clip(tmp_path / "clip.avi"), tmp_path / "out"
    assert infer_multi.main([str(photo), str(clip), "--weights", str(multi_weights), "--out", str(out)]) == 0
    said = _said(capsys, caplog)
    assert (out / "photo_labels.png").is_file() and f", {out / 'photo_labels.png'}\n" in said
    assert f" -> {out / f'clip_annotated{_suffix()}'}, {out / 'clip.jsonl'}" in said
    _assert_every_file_named(said, out, photo, clip)


def test_infer_seg_on_an_annotated_video_does_not_stack_the_suffix(seg_weights, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="hrseg")
    photo, out = _photo(tmp_path / "photo.png"), tmp_path / "out"
    clip = _clip(tmp_path / "street_annotated.avi")
    assert infer_seg.main([str(photo), str(clip), "--weights", str(seg_weights), "--out", str(out),
                           "--backend", "torch"]) == 0
    said = _said(capsys, caplog)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["photo_labels.png", "photo_color.png", "photo_overlay.png", "photo_seg.json", "street_annotated.jsonl",
         f"street_annotated{_suffix()}"])
    assert re.match(rf"{re.escape(str(photo))}: \d+ class(es)? -> ", said)  # as every task says it
    _assert_every_file_named(said, out, photo, clip)
