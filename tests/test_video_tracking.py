"""Video through the predictor: `hrseg infer pose|det --track` gives each person an id that stays
across frames, `--det-every N` boxes follow the people's keypoints, `--track` refuses photos."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import hrseg
from hrseg.commands import infer_pose
from hrseg.errors import ConfigError
from hrseg.inference.person_boxes import PersonBoxes
from hrseg.tasks import detection, pose
from hrseg.utils.image_io import write_image

pytest.importorskip("trackers", reason="tracking needs the [track] extra (docs/video.md)")

FRAMES, SIZE = 12, (160, 240)  # H, W


def _clip(folder: Path) -> tuple[Path, Path, dict[int, list[float]]]:
    """A folder of frames with two people walking towards each other (grey blocks on a dark
    background) and their boxes per frame in MOTChallenge form; returns (frames, dets, truth)."""
    frames, truth, lines = folder / "frames", {1: [], 2: []}, []
    for f in range(FRAMES):
        image = np.full((*SIZE, 3), 30, np.uint8)
        for pid, x in ((1, 20 + 6 * f), (2, 170 - 6 * f)):
            box = [float(x), 40.0 + pid * 10, 40.0, 90.0]
            image[int(box[1]):int(box[1] + box[3]), int(box[0]):int(box[0] + box[2])] = 90 + 60 * pid
            truth[pid].append(box)
            lines.append(f"{f + 1},-1,{box[0]},{box[1]},{box[2]},{box[3]},0.95")
        write_image(frames / f"{f:04d}.png", image)
    (folder / "dets.txt").write_text("\n".join(lines) + "\n")
    return frames, folder / "dets.txt", truth


def _pose_checkpoint(folder: Path) -> Path:
    cfg = pose.load_pose_config(None, ["model.name=pose_hrnet_w18_small_v1", "data.input_size=[64,48]",
                                       "data.heatmap_size=[16,12]", "data.sigma=1.0"])
    torch.manual_seed(0)
    return hrseg.save_checkpoint(folder / "pose.pth", pose.TASK.build_model(cfg),
                                 meta={"config": cfg, "model": pose.TASK.model_meta(cfg)})


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _ids_by_person(frames: list[dict], truth: dict[int, list[float]], key: str = "people") -> dict[int, set]:
    """The track ids each true person got over the clip (matched by the box's left edge)."""
    ids: dict[int, set] = {1: set(), 2: set()}
    for f, frame in enumerate(frames):
        for found in frame[key]:
            pid = min(truth, key=lambda p: abs(truth[p][f][0] - found["bbox"][0]))
            ids[pid].add(found["track_id"])
    return ids


def test_pose_track_keeps_each_persons_id_across_the_clip(tmp_path):
    frames, dets, truth = _clip(tmp_path)
    ckpt = _pose_checkpoint(tmp_path)
    out = tmp_path / "out"
    assert infer_pose.main([str(frames), "--weights", str(ckpt), "--boxes", str(dets), "--track", "--smooth",
                            "--backend", "torch", "--out", str(out)]) == 0
    lines = _lines(out / "frames.jsonl")
    assert len(lines) == FRAMES and all(len(line["people"]) == 2 for line in lines)
    ids = _ids_by_person(lines, truth)
    assert len(ids[1]) == len(ids[2]) == 1 and ids[1] != ids[2] and None not in ids[1] | ids[2], ids
    assert lines[0]["detector"].startswith("boxes file") and (out / "frames_annotated.mp4").exists() or \
        (out / "frames_annotated.avi").exists()


def test_track_refuses_photos_and_smooth_needs_track(tmp_path, shared_data):
    ckpt = _pose_checkpoint(tmp_path)
    photo = shared_data / "images" / "zidane.jpg"
    with pytest.raises(ConfigError, match="--track follows objects across the frames of a video: .*zidane.jpg"):
        infer_pose.main([str(photo), "--weights", str(ckpt), "--track", "--out", str(tmp_path / "out")])
    with pytest.raises(ConfigError, match="--smooth .* give --track too"):
        infer_pose.main([str(photo), "--weights", str(ckpt), "--smooth", "--out", str(tmp_path / "out")])
    with pytest.raises(ConfigError, match="test.smooth.joint_noise has 2 values; the model has 17 keypoints"):
        pose.TASK.build_predictor(ckpt, cfg_options=["test.smooth.joint_noise=[1.0,2.0]"], track=True, smooth=True,
                                  person_detector=lambda image: [])


def test_detection_track_gives_ids_per_object(tmp_path):
    """A detector that finds the two blocks (a stand-in with fixed boxes) followed across frames."""
    frames, _, truth = _clip(tmp_path)
    cfg = detection.load_det_config(None, ["model.name=det_fasterrcnn_hrnetv2p_w18_small_v1", "model.num_classes=2"])
    cfg["classes"] = [{"id": 1, "name": "person"}]
    model = detection.TASK.build_model(cfg)
    predictor = detection.TASK.tracking(detection.TASK.predictor(model, cfg, score_thr=0.3), cfg)
    calls = iter(range(FRAMES))

    class Blocks(torch.nn.Module):  # the detector's output for each frame: the two true boxes
        def __init__(self) -> None:
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(0))  # where the images go (the CPU)

        def forward(self, images):
            f = next(calls)
            boxes = torch.tensor([[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (truth[1][f], truth[2][f])])
            return [{"boxes": boxes, "labels": torch.ones(2, dtype=torch.long), "scores": torch.full((2,), 0.9)}]

    tracked = predictor.with_runner(Blocks())
    tracked.reset()
    results = [{"detections": tracked(np.zeros((*SIZE, 3), np.uint8))} for _ in range(FRAMES)]
    for frame in results:  # xyxy -> the left edge is bbox[0] as for pose
        assert all(d["track_id"] is not None for d in frame["detections"])
    ids = _ids_by_person(results, truth, "detections")
    assert len(ids[1]) == len(ids[2]) == 1 and ids[1] != ids[2], ids  # one id each, from frame 1 on


def test_boxes_follow_the_keypoints_between_detector_frames():
    """With a detector every 3 frames, the frames in between take the boxes of the people's
    keypoints (grown as the top-down crop grows a box), not the stale detector boxes."""
    boxes = PersonBoxes(detector=lambda image: [[0.0, 0.0, 10.0, 20.0, 0.9]], det_every=3)
    frame = np.zeros((8, 8, 3), np.uint8)
    assert boxes(frame) == [[0.0, 0.0, 10.0, 20.0, 0.9]]
    walked = {"bbox": [50, 0, 10, 20], "box_score": 0.9,
              "keypoints": {"a": [52.0, 2.0, 0.9], "b": [58.0, 18.0, 0.9]}}
    boxes.follow([walked], aspect_ratio=0.75)
    (x, y, w, h, score), = boxes(frame)
    assert 50 <= x + w / 2 <= 60 and score == 0.9 and h >= 16 * 1.25 - 1e-6  # centred on the joints, padded
    boxes.follow([], aspect_ratio=0.75)
    assert boxes(frame) == []  # frame 2: nobody left to follow
    assert boxes(frame) == [[0.0, 0.0, 10.0, 20.0, 0.9]]  # frame 3: the detector again


def test_a_videos_tracks_run_at_its_frame_rate(tmp_path, monkeypatch):
    """The tracker keeps a lost track ``lost_frames`` frames counted at 30 frames/s, so it must
    know each video's rate: a 10 frames/s clip's, then a folder's (none: the config's)."""
    import cv2

    from hrseg.inference.tracking import Tracker

    frames, _, _ = _clip(tmp_path)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (SIZE[1], SIZE[0]))
    for f in sorted(frames.glob("*.png")):
        writer.write(cv2.imread(str(f)))
    writer.release()
    seen, reset = [], Tracker.reset

    def recording(tracker, frame_rate=None):
        reset(tracker, frame_rate)
        seen.append(tracker.config.frame_rate)

    monkeypatch.setattr(Tracker, "reset", recording)
    pose.TASK.infer([video, frames], None, _pose_checkpoint(tmp_path), tmp_path / "out", track=True,
                    cfg_options=["test.backend=torch"], person_detector=lambda image: [[20.0, 50.0, 40.0, 90.0, 0.9]])
    assert seen == [10.0, 30.0]
