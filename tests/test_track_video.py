"""`hrseg track-video`: the tracking pose predictor end to end on a synthetic video, scored with
the MOT metrics, keypoint AP and jitter; detection every N frames runs the detector 1/N as often."""
from __future__ import annotations

import json

import pytest
import torch

import hrseg
from hrseg.commands import track_study, track_video
from hrseg.data.synthetic.video import ensure_synthetic_video
from hrseg.experiments.video_pipeline import format_rows, run_sequence, score_sequence
from hrseg.tasks import detection, pose

pytest.importorskip("trackers", reason="the [track] extra is not installed")

FRAMES = 15


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from conftest import randomize_weights

    folder = tmp_path_factory.mktemp("track_video")
    torch.manual_seed(0)
    cfg = pose.load_pose_config(None)
    hrseg.save_checkpoint(folder / "pose.pth", pose.build_pose_model(cfg["model"]), meta={"config": cfg})
    cfg = detection.load_det_config("det/mini_fasterrcnn", ["model.num_classes=2", "model.rpn_post_nms_top_n_test=50",
                                                            "model.box_detections_per_img=4"])
    cfg["classes"] = [{"id": 1, "name": "person"}]
    hrseg.save_checkpoint(folder / "det.pth", randomize_weights(detection.TASK.build_model(cfg)),
                          meta={"config": cfg, "model": detection.TASK.model_meta(cfg)})
    ensure_synthetic_video(folder / "videos" / "video0", num_train=0, num_val=FRAMES, seed=0, log=None)
    return folder


def test_track_video_scores_every_interval(setup, tmp_path, capsys):
    out = tmp_path / "video.json"
    assert track_video.main([str(setup / "videos"), "--sequences", "1", "--frames", str(FRAMES),
                             "--pose-weights", str(setup / "pose.pth"),
                             "--det-weights", str(setup / "det.pth"), "--det-score-thr", "0.05",
                             "--det-every", "1", "5", "--backend", "torch", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["det_every"], r["smooth"]) for r in rows] == [(1, False), (1, True), (5, False)]
    for r in rows:
        assert 0.0 <= r["IDF1"] <= 1.0 and 0.0 <= r["AP"] <= 1.0 and r["frames_per_s"] > 0
        assert r["jitter"] is None or r["jitter"] >= 0  # None (JSON null): nothing tracked three frames running
    assert "| detector every | smoothed | frames/s |" in capsys.readouterr().out


def test_detector_runs_every_n_frames_and_people_keep_ids(setup):
    root = setup / "videos" / "video0"
    frames = sorted((root / "val" / "img1").glob("*.jpg"))
    predictor = pose.TASK.build_predictor(setup / "pose.pth", cfg_options=["test.backend=torch"], track=True,
                                          det_weights=setup / "det.pth",
                                          det_score_thr=0.05, det_every=5)
    calls = []
    predictor.boxes.detector.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    tracked, seconds = run_sequence(predictor, frames)
    assert len(calls) == len(range(0, FRAMES, 5)), calls
    assert sorted(tracked) == list(range(1, FRAMES + 1))
    scores = score_sequence(root, "val", tracked)
    assert {"HOTA", "IDF1", "MOTA", "IDSW", "AP", "jitter"} <= set(scores)


def test_cfg_options_reach_the_pose_config(setup):
    with pytest.raises(hrseg.errors.ConfigError, match="bogus"):
        track_video.main([str(setup / "videos"), "--sequences", "1", "--frames", str(FRAMES),
                          "--pose-weights", str(setup / "pose.pth"), "--det-weights", str(setup / "det.pth"),
                          "--cfg-options", "test.track.bogus=1"])


def test_config_file_gives_the_test_settings(setup, tmp_path):
    """--config: the file's test section, not the checkpoint's (a wrong joint_noise is named)."""
    config = tmp_path / "smooth.py"
    config.write_text("test = dict(smooth=dict(joint_noise=[1.0, 2.0]))\n")
    with pytest.raises(hrseg.errors.ConfigError, match="joint_noise has 2 values; the model has 17 keypoints"):
        track_video.main([str(setup / "videos"), "--sequences", "1", "--frames", str(FRAMES),
                          "--pose-weights", str(setup / "pose.pth"), "--det-weights", str(setup / "det.pth"),
                          "--config", str(config), "--backend", "torch"])


def test_track_study_measures_each_joints_share_of_the_motion(tmp_path, capsys):
    """--joint-motion K: walkers' ankles and wrists accelerate far more than their heads (ground
    truth of the train split of video1), 17 shares of mean 1, ready for test.smooth.joint_noise."""
    assert track_study.main([str(tmp_path), "--joint-motion", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("joint_noise=[")
    shares = json.loads(line.split("=", 1)[1])
    assert len(shares) == 17 and abs(sum(shares) / 17 - 1) < 1e-3
    head, wrists, ankles = max(shares[:5]), min(shares[9:11]), min(shares[15:])
    assert ankles > wrists > 10 * head
    assert not (tmp_path / "video0").exists()  # the tables' sequences are not written


def test_a_tracking_predictor_streams_what_it_gives_frame_by_frame(setup):
    """``stream()`` of a tracking predictor follows the people as calling it does (the pose
    predictor's batched stream is for photos)."""
    frames = sorted((setup / "videos" / "video0" / "val" / "img1").glob("*.jpg"))[:4]
    from hrseg.utils.image_io import read_image

    # the random detector's boxes score 0.3-0.5: tracks start from 0.3
    options = ["test.backend=torch", "test.track.new_track_thr=0.3", "test.track.high_thr=0.3"]
    predictor = pose.TASK.build_predictor(setup / "pose.pth", cfg_options=options, track=True, smooth=True,
                                          det_weights=setup / "det.pth", det_score_thr=0.05)
    called = [predictor(read_image(f)) for f in frames]
    predictor.reset()
    streamed = [people for _, _, people in predictor.stream(((f, read_image(f)) for f in frames), batch_size=8)]
    assert any(called) and streamed == called
    assert any(p.get("track_id") is not None for p in streamed[-1])  # confirmed tracks by the last frame


def test_weights_are_checked_before_any_frame_is_written(setup, tmp_path):
    """Weights of the wrong task were refused only after the videos were generated."""
    root = tmp_path / "videos"
    with pytest.raises(hrseg.errors.HrsegError, match="holds a det"):
        track_video.main([str(root), "--sequences", "1", "--frames", str(FRAMES), "--pose-weights",
                          str(setup / "det.pth"), "--det-weights", str(setup / "det.pth"), "--backend", "torch"])
    assert not root.exists()


@pytest.mark.parametrize("threads", ["-3", "0"])
def test_threads_must_be_at_least_one(setup, threads, capsys):
    """--threads -3 was torch's RuntimeError traceback, 0 was ignored silently."""
    with pytest.raises(SystemExit) as exit_:
        track_video.main([str(setup / "videos"), "--threads", threads])
    assert exit_.value.code == 2
    assert f"argument --threads: must be at least 1, got {threads}" in capsys.readouterr().err


def test_missing_weights_name_this_commands_flags(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("HRSEG_HOME", str(tmp_path))  # no training runs there
    with pytest.raises(hrseg.errors.CheckpointError, match="pass --pose-weights FILE"):
        track_video.main([str(setup / "videos")])
    with pytest.raises(hrseg.errors.CheckpointError, match="pass --det-weights FILE"):
        track_video.main([str(setup / "videos"), "--pose-weights", str(setup / "pose.pth")])


def test_a_pose_checkpoint_as_detector_fails_before_the_pose_model_is_built(setup, monkeypatch):
    def built(*args, **kwargs):
        raise AssertionError("the pose predictor was built before the detector's checkpoint was checked")

    monkeypatch.setattr(pose.TASK, "build_predictor", built)
    with pytest.raises(hrseg.errors.CheckpointError, match="pose.pth: holds a pose model .*not a det model"):
        track_video.main([str(setup / "videos"), "--pose-weights", str(setup / "pose.pth"),
                          "--det-weights", str(setup / "pose.pth")])


def test_nothing_tracked_has_no_jitter_not_zero(setup):
    """Jitter over no tracked keypoints is NaN (JSON null), shown as n/a; it was 0.000."""
    scores = score_sequence(setup / "videos" / "video0", "val", {f: [] for f in range(1, FRAMES + 1)})
    assert scores["jitter"] != scores["jitter"]  # NaN
    table = format_rows([{"det_every": 1, "smooth": False, "frames_per_s": 1.0, **scores}])
    assert table.splitlines()[-1].endswith("| n/a |")
