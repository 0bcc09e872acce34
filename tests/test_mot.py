"""MOTChallenge files (hrseg/data/mot.py), their metrics (hrseg/evaluation/mot.py, the [track]
extra), `hrseg track`, the synthetic video split (hrseg/data/synthetic/video.py) and its frames
as a photo split (video_frames.py)."""
from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict

import cv2

import numpy as np
import pytest

from hrseg.commands._dispatch import main as hrseg_main
from hrseg.data.mot import MotBox, by_frame, read_mot, write_mot
from hrseg.data.synthetic.video import (
    DetectionNoise, VideoParams, ensure_synthetic_video, generate_synthetic_video, noisy_detections, render_sequence,
    sequence_paths,
)
from hrseg.data.synthetic.pose import dataset_paths
from hrseg.errors import ConfigError, DataError
from hrseg.tasks.common import coco_split_paths

needs_track = pytest.mark.skipif(importlib.util.find_spec("trackers") is None,
                                 reason="the tracking extra is not installed (pip install -e '.[track]')")


def test_read_write_round_trip(tmp_path):
    boxes = [MotBox(2, 1, 10.5, 20, 30, 40.25, 0.875), MotBox(1, 2, 0, 0, 5, 5, 1.0),
             MotBox(1, 1, 1, 2, 3, 4, 0.5)]
    path = write_mot(tmp_path / "out" / "res.txt", boxes)
    assert path.read_text().splitlines() == ["1,1,1,2,3,4,0.5,-1,-1,-1", "1,2,0,0,5,5,1,-1,-1,-1",
                                             "2,1,10.5,20,30,40.25,0.875,-1,-1,-1"]
    back = read_mot(path)
    assert [(b.frame, b.id, b.xywh, b.score) for b in back] == [
        (1, 1, [1, 2, 3, 4], 0.5), (1, 2, [0, 0, 5, 5], 1.0), (2, 1, [10.5, 20, 30, 40.25], 0.875)]
    assert list(by_frame(back)) == [1, 2] and len(by_frame(back)[1]) == 2


def test_ground_truth_columns_are_kept(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1, 3, 10, 20, 30, 40, 1, 1, 0.25\n\n2,3,11,20,30,40,0,7,1\n")
    boxes = read_mot(gt)
    assert [b.visibility for b in boxes] == [0.25, 1.0] and boxes[1].rest == (7.0, 1.0) and boxes[1].score == 0
    write_mot(tmp_path / "again.txt", boxes, results=False)
    assert (tmp_path / "again.txt").read_text().splitlines() == ["1,3,10,20,30,40,1,1,0.25", "2,3,11,20,30,40,0,7,1"]
    short = tmp_path / "short.txt"
    short.write_text("4,-1,1,2,3,4\n")  # no score column: 1
    assert read_mot(short)[0].score == 1.0 and read_mot(short)[0].visibility is None


@pytest.mark.parametrize("line, says", [
    ("1,1,2,3,4", "line 2: expected at least 6"),
    ("1,1,2,x,4,5,0.9", "line 2: not a number: 'x'"),
    ("0,1,2,3,4,5,0.9", "line 2: the frame must be a whole number from 1"),
    ("1.5,1,2,3,4,5,0.9", "line 2: the frame must be"),
    ("1,1,2,3,-4,5,0.9", "line 2: negative box width or height"),
    ("1,nan,2,3,4,5,0.9", "line 2: not a number"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, says):
    path = tmp_path / "det.txt"
    path.write_text(f"1,-1,0,0,10,10,0.9\n{line}\n")
    with pytest.raises(DataError, match=says) as e:
        read_mot(path)
    assert str(path) in str(e.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_mot(tmp_path / "nope.txt")


def test_cli_bad_detections_is_one_line_and_status_2(tmp_path, capsys):
    bad = tmp_path / "det.txt"
    bad.write_text("1,-1,0,0,10,10,0.9\n2,-1,0,0,10\n")
    assert hrseg_main(["track", str(bad), "--out", str(tmp_path / "res.txt")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 2" in err and not (tmp_path / "res.txt").exists()


def _gt(tmp_path):
    """Two people over 10 frames, walking towards each other."""
    boxes = [MotBox(f, 1, 10 + 5 * f, 10, 30, 60, 1, (1, 1)) for f in range(1, 11)]
    boxes += [MotBox(f, 2, 200 - 5 * f, 12, 30, 60, 1, (1, 1)) for f in range(1, 11)]
    return write_mot(tmp_path / "gt.txt", boxes, results=False), boxes


@needs_track
def test_metrics_of_perfect_and_switched_results(tmp_path):
    from hrseg.evaluation.mot import evaluate_mot

    gt_file, boxes = _gt(tmp_path)
    perfect = evaluate_mot(gt_file, write_mot(tmp_path / "perfect.txt", [MotBox(b.frame, b.id + 10, *b.xywh) for b in boxes]))
    assert (perfect["HOTA"], perfect["IDF1"], perfect["MOTA"], perfect["IDSW"], perfect["FN"]) == (1.0, 1.0, 1.0, 0, 0)
    # person 1 takes a new id from frame 6 on: one switch, IDF1 = 2 * 15 / 40
    switched = [MotBox(b.frame, 3 if (b.id == 1 and b.frame >= 6) else b.id, *b.xywh) for b in boxes]
    m = evaluate_mot(gt_file, write_mot(tmp_path / "switched.txt", switched))
    assert m["IDSW"] == 1 and m["IDF1"] == pytest.approx(0.75) and m["MOTA"] == pytest.approx(0.95)
    missing = evaluate_mot(gt_file, write_mot(tmp_path / "half.txt", [b for b in boxes if b.id == 1]))
    assert missing["FN"] == 10 and missing["FP"] == 0 and missing["MOTA"] == pytest.approx(0.5)


@needs_track
def test_metrics_of_nothing_tracked_and_plain_gt(tmp_path):
    from hrseg.evaluation.mot import evaluate_mot

    gt_file, boxes = _gt(tmp_path)
    empty = evaluate_mot(gt_file, write_mot(tmp_path / "empty.txt", []))
    assert empty["FN"] == 20 and empty["IDF1"] == 0 and empty["frames"] == 10
    plain = write_mot(tmp_path / "plain.txt", [MotBox(b.frame, b.id, *b.xywh) for b in boxes])  # no class column
    assert evaluate_mot(plain, plain)["IDF1"] == 1.0


@needs_track
def test_track_command_tracks_and_scores(tmp_path, capsys):
    gt_file, boxes = _gt(tmp_path)
    det = write_mot(tmp_path / "det.txt", [MotBox(b.frame, -1, *b.xywh, 0.9) for b in boxes])
    out = tmp_path / "res.txt"
    assert hrseg_main(["track", str(det), "--out", str(out), "--eval", str(gt_file), "--json"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads(printed[printed.index("{"):])
    tracks = read_mot(out)
    assert {b.id for b in tracks} == {1, 2} and len(tracks) == 20
    assert (metrics["IDSW"], metrics["FN"], metrics["FP"], metrics["IDF1"], metrics["HOTA"]) == (0, 0, 0, 1.0, 1.0)


def test_synthetic_video_split(tmp_path):
    params = VideoParams(num_people=3, min_height=40, max_height=70, min_speed=4, max_speed=6)
    summary = generate_synthetic_video(tmp_path / "v", 12, 6, (96, 128), seed=3, params=params, log=None)
    assert summary["splits"]["train"]["frames"] == 12
    p = sequence_paths(tmp_path / "v", "train")
    assert sorted(f.name for f in p["images"].iterdir()) == [f"{i:06d}.jpg" for i in range(1, 13)]
    gt = read_mot(p["gt"])
    assert {b.frame for b in gt} <= set(range(1, 13)) and {b.id for b in gt} <= {1, 2, 3}
    assert all(b.rest[0] == 1 and 0 < b.visibility <= 1 for b in gt)
    assert all(b.id == -1 for b in read_mot(p["det"]))
    coco = json.loads(p["coco"].read_text())
    assert coco["videos"][0]["frame_rate"] == 25 and [im["frame_id"] for im in coco["images"]] == list(range(12))
    assert len(coco["annotations"]) == len(gt) and all(len(a["keypoints"]) == 51 for a in coco["annotations"])
    frame_of = {im["id"]: im["frame_id"] + 1 for im in coco["images"]}
    assert sorted((frame_of[a["image_id"]], a["track_id"], *a["bbox"]) for a in coco["annotations"]) == \
        sorted((b.frame, b.id, *b.xywh) for b in gt)
    assert "imHeight=96" in p["seqinfo"].read_text()
    again = generate_synthetic_video(tmp_path / "w", 12, 6, (96, 128), seed=3, params=params, log=None)
    assert again["splits"] == summary["splits"]
    assert sequence_paths(tmp_path / "w", "train")["gt"].read_bytes() == p["gt"].read_bytes()
    assert (tmp_path / "w/train/img1/000007.jpg").read_bytes() == (tmp_path / "v/train/img1/000007.jpg").read_bytes()
    assert ensure_synthetic_video(tmp_path / "v", 12, 6, (96, 128), seed=3, params=params, log=None)["seconds"] == 0.0


def test_video_frames_split_is_a_photo_split_of_unseen_sequences(tmp_path):
    params = VideoParams(num_people=3, min_height=40, max_height=70, min_speed=4, max_speed=6)
    root = tmp_path / "f"
    cfg = {"data": {"root": str(root), "synthetic": {"kind": "video_frames", "num_train": 5, "num_val": 2,
                                                     "image_size": [96, 128], "seed": 3, "frames_per_sequence": 3,
                                                     "frame_step": 2, "params": asdict(params)}}}
    ann_file, images = coco_split_paths(cfg, "train", "instances")  # generated through data.synthetic
    assert ann_file == dataset_paths(root, "train")["instances"] and images == root / "images" / "train"
    coco = json.loads(ann_file.read_text())
    assert len(coco["images"]) == 5 and len({im["id"] for im in coco["images"]}) == 5
    assert sorted(f.name for f in images.iterdir()) == sorted(im["file_name"] for im in coco["images"])
    keypoints = json.loads(dataset_paths(root, "val")["person_keypoints"].read_text())
    assert len(keypoints["images"]) == 2 and all(len(a["keypoints"]) == 51 for a in keypoints["annotations"])
    # frames 0, 2, 4 of the train split's first sequence, which is not one of the video split's
    frames = [c.image for _, _, c in render_sequence([3, 10, 0], 6, (96, 128), params)]
    second = cv2.imread(str(images / coco["images"][1]["file_name"])).astype(int)
    video = [c.image for _, _, c in render_sequence([3, 0], 6, (96, 128), params)]
    error = [np.abs(second - f.astype(int)).mean() for f in frames + video]
    assert int(np.argmin(error)) == 2 and min(error[6:]) > 3 * error[2]  # the JPEG of frame 2, no video frame
    with pytest.raises(ConfigError, match="data.synthetic.kind"):
        coco_split_paths({"data": {"root": str(root), "synthetic": {"kind": "film"}}}, "train", "instances")


def test_noisy_detections():
    gt = [MotBox(f, k, 50 * k, 10, 20, 50, 1, (1, 1.0 if k < 3 else 0.0)) for f in range(1, 201) for k in (1, 2, 3)]
    rng = np.random.default_rng(0)
    dets = noisy_detections(gt, rng, (200, 300), DetectionNoise(miss=0.1, occluded_miss=0.8, false_positives=0.5),
                            keep_ids=True)
    kept = {k: sum(d.id == k for d in dets) for k in (0, 1, 2, 3)}
    assert 160 < kept[1] < 200 and 160 < kept[2] < 200  # 10% missed
    assert 5 < kept[3] < 40  # hidden: 90% missed
    assert 70 < kept[0] < 130  # Poisson(0.5) false positives a frame
    assert all(d.id == -1 for d in noisy_detections(gt[:30], rng, (200, 300)))


def test_without_the_extra_the_command_names_it(tmp_path, capsys, monkeypatch):
    import sys

    for name in ["trackers", "trackers.eval", *(m for m in sys.modules if m.startswith("trackers."))]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the [track] extra were not installed
    det = write_mot(tmp_path / "det.txt", [MotBox(1, -1, 0, 0, 10, 10, 0.9)])
    assert hrseg_main(["track", str(det), "--out", str(tmp_path / "res.txt")]) == 2
    err = capsys.readouterr().err  # both steps: the extra, then the two libraries without their dependencies
    assert "pip install 'hrseg[track]' && pip install --no-deps \"trackers>=2.6.1,<2.7\" \"supervision" in err
    assert hrseg_main(["track", str(det), "--eval", str(det)]) == 2


@needs_track
def test_tracking_study_on_a_small_video(tmp_path):
    from hrseg.experiments.tracking_study import compare_trackers, compare_with_keypoints, jitter_study, smoothing_ap

    params = VideoParams(num_people=3, min_height=50, max_height=80, min_speed=2, max_speed=3)
    generate_synthetic_video(tmp_path / "v", 0, 30, (128, 192), seed=1, params=params, log=None)
    boxes = compare_trackers([tmp_path / "v" / "val"])
    assert {"hrseg (trackers BoT-SORT association + glue), motion alone", "trackers ByteTrack, library defaults",
            "hrseg, + the look from the frames (re-identification)"} <= set(boxes)
    people = compare_with_keypoints([(tmp_path / "v", "val")])
    assert all(0 <= m["IDF1"] <= 1 and m["frames"] == 30 for m in people.values())
    for setting in ({}, {"filter": "one_euro", "min_cutoff": 1.0, "beta": 0.1}):
        (jitter,) = jitter_study(tmp_path / "v", settings=[setting])
        assert jitter["jitter_smoothed"] < 0.6 * jitter["jitter_raw"] and jitter["error_raw"] > 0
        raw, smoothed = smoothing_ap(tmp_path / "v", settings=[setting])
        assert raw["setting"] == "raw" and smoothed["jitter"] < 0.6 * raw["jitter"] and 0 < raw["AP"] <= 1
        assert smoothed["setting"].startswith("Kalman" if not setting else "One-Euro")
