"""Video in and out: a clip the test makes, read back frame by frame, annotated and written with
one JSON line per frame; a folder of frames; clear errors for bad inputs."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hrseg.errors import DataError
from hrseg.inference.person_boxes import PersonBoxes
from hrseg.inference.video import is_video_input, open_frames, process_video
from hrseg.utils.image_io import write_image

W, H, N = 64, 48, 12


def _frame(i: int) -> np.ndarray:
    """A bright square moving right on a dark background (RGB)."""
    img = np.full((H, W, 3), 20, np.uint8)
    img[16:32, 4 * i:4 * i + 12] = (250, 40, 40)
    return img


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for i in range(N):
        writer.write(cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _square_x(frame: np.ndarray) -> float:
    """Centre column of the red square: what the fake model 'predicts'."""
    red = (frame[..., 0] > 150) & (frame[..., 1] < 100)
    return float(np.nonzero(red)[1].mean())


def test_clip_round_trip(clip, tmp_path):
    frames = open_frames(clip)
    assert frames.count == N and frames.size == (W, H) and frames.fps == pytest.approx(10.0)

    def predict(frame):
        annotated = frame.copy()
        annotated[:4] = (0, 255, 0)  # a green band: the annotation
        return {"x": _square_x(frame)}, annotated

    summary = process_video(clip, tmp_path / "out", predict, progress=False)
    assert summary["frames"] == N and summary["codec"] in ("H.264 in MP4", "MPEG-4 Part 2 in MP4")
    lines = [json.loads(line) for line in open(summary["jsonl"])]
    assert [d["frame"] for d in lines] == list(range(N))
    assert lines[3]["time_s"] == pytest.approx(0.3)
    # the moving square is found where it was drawn (MJPEG is lossy: within a pixel)
    assert [d["x"] for d in lines] == pytest.approx([4 * i + 5.5 for i in range(N)], abs=1.0)
    back = list(open_frames(summary["video"]))
    assert len(back) == N
    assert back[5][1][1, 30, 1] > 200 and abs(_square_x(back[5][1]) - 25.5) <= 1.0  # annotation and content
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["clip.jsonl", f"clip_annotated{summary['video'][-4:]}"])  # nothing temporary left


def test_folder_of_frames(tmp_path):
    for i in range(3):
        write_image(tmp_path / "frames" / f"f{i:03d}.png", _frame(i))
    assert is_video_input(tmp_path / "frames") and is_video_input("a.MP4") and not is_video_input("a.jpg")
    frames = open_frames(tmp_path / "frames", fps=5)
    got = [(i, _square_x(f)) for i, f in frames]
    assert got == [(0, 5.5), (1, 9.5), (2, 13.5)] and frames.fps == 5


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.mp4: video file not found"):
        open_frames(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 10)
    with pytest.raises(DataError, match="bad.mp4: not a readable video"):
        open_frames(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no frames found"):
        open_frames(tmp_path / "empty")
    for i, size in enumerate([(H, W), (W, H), (H, W)]):  # the middle frame turned: not one video
        write_image(tmp_path / "mixed" / f"f{i:03d}.png", np.zeros((*size, 3), np.uint8))
    with pytest.raises(DataError, match=r"f001.png: 48x64, but f000.png is 64x48: the frames of a video .* share"):
        open_frames(tmp_path / "mixed")
    (tmp_path / "mixed" / "f002.png").write_bytes(b"not a png")
    (tmp_path / "mixed" / "f001.png").unlink()
    with pytest.raises(DataError, match="f002.png: not a readable image"):
        open_frames(tmp_path / "mixed")


def test_failed_run_leaves_no_output(clip, tmp_path):
    def predict(frame):
        raise RuntimeError("model broke")

    with pytest.raises(RuntimeError):
        process_video(clip, tmp_path / "out", predict, progress=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_detection_every_n_frames_reuses_boxes_and_starts_again_per_video():
    calls = []
    boxes = PersonBoxes(detector=lambda f: calls.append(f) or [[0, 0, 1, 1, float(len(calls))]], det_every=3)
    frame = np.zeros((4, 4, 3), np.uint8)
    assert [boxes(frame)[0][4] for _ in range(7)] == [1, 1, 1, 2, 2, 2, 3]
    boxes.reset()  # a new video: its first frame is detected
    assert boxes(frame)[0][4] == 4 and boxes.name == "person detector"
    with pytest.raises(DataError):
        PersonBoxes(detector=len, det_every=0)


@pytest.mark.slow  # a fresh process (seconds)
def test_a_damaged_video_is_one_line_without_ffmpegs_own_log(tmp_path):
    """FFmpeg printed "moov atom not found" (and, probing codecs, "Could not find a valid
    device") to stderr beside the error; a fresh process sees what a user's sees."""
    import subprocess
    import sys

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 10)
    code = ("from hrseg.inference.video import open_frames, pick_codec\npick_codec()\n"
            f"open_frames({str(bad)!r})\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "bad.mp4: not a readable video" in run.stderr and "moov atom" not in run.stderr
    assert "@ 0x" not in run.stderr  # no FFmpeg component's line ("[mov,mp4,... @ 0x...]")
