"""The tracker's and the keypoint filter's settings are checked once, for `hrseg track`'s options and a
config's test.track / test.smooth alike (one error naming the key, before any frame or output);
`min_hits` means the frame a new track gets its id on; the tracker's memory stays flat in a video's
length; an option without effect (--det-every with a boxes file, --json without --eval) is refused;
an odd frame size is kept (padded to even); nothing tracked has no jitter (n/a, not 0)."""
from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from hrseg.commands import infer_pose, track, track_study
from hrseg.data.mot import MotBox, write_mot
from hrseg.errors import ConfigError, DataError
from hrseg.experiments.tracking_study import second_difference, shown
from hrseg.inference.person_boxes import PersonBoxes
from hrseg.inference.smoothing import KeypointSmoother
from hrseg.inference.tracking import Tracker, TrackerConfig, track_mot
from hrseg.inference.video import process_video
from hrseg.tasks.common import SMOOTH_DEFAULTS, TRACK_DEFAULTS, tracking
from hrseg.utils.image_io import write_image
from test_video_tracking import _clip, _pose_checkpoint

pytest.importorskip("trackers", reason="tracking needs the [track] extra (docs/video.md)")


@pytest.mark.parametrize("key, value, says", [
    ("high_thr", 5, "test.track.high_thr: must be between 0 and 1, got 5"),
    ("lost_frames", -5, "test.track.lost_frames: must be at least 0, got -5"),
    ("min_hits", 1, "test.track.min_hits: must be at least 2"),
    ("min_hits", 2.5, "test.track.min_hits: expected a whole number, got 2.5"),
    ("swap_margin", float("nan"), "test.track.swap_margin: expected a finite number, got nan"),
    ("swap_margin", -0.1, "test.track.swap_margin: must be at least 0, got -0.1"),
    ("frame_rate", 0, "test.track.frame_rate: must be above 0, got 0"),
    ("sigmas", (0.1, -1.0), "test.track.sigmas: must be above 0"),
    ("camera_motion", "yes", "test.track.camera_motion: expected true or false, got 'yes'"),
])
def test_tracker_settings_are_checked_naming_the_key(key, value, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        TrackerConfig(**{key: value})


def test_none_turns_the_look_settings_off_and_the_defaults_pass():
    config = TrackerConfig(reid_thr=None, look_gate=None, swap_margin=None, sigmas=(0.1,) * 17)
    assert config.look_gate is None and TrackerConfig() == TrackerConfig(**TRACK_DEFAULTS)


class _NoTracking:
    def tracking(self, tracker, smoother):
        raise AssertionError("the predictor was given a tracker built from bad settings")


@pytest.mark.parametrize("section, key, value, says", [
    ("track", "high_thr", 5, "test.track.high_thr: must be between 0 and 1"),
    ("track", "lost_frames", -5, "test.track.lost_frames: must be at least 0"),
    ("smooth", "filter", "bogus", "test.smooth.filter must be one of kalman, one_euro, not 'bogus'"),
    ("smooth", "process_noise", 0, "test.smooth.process_noise must be a number above 0, got 0"),
    ("smooth", "beta", -1, "test.smooth.beta must be a number at least 0, got -1"),
    ("smooth", "joint_noise", [1.0, 0.0], "test.smooth.joint_noise must be positive numbers"),
])
def test_the_configs_settings_go_through_the_same_checks(section, key, value, says):
    test_cfg = {"track": dict(TRACK_DEFAULTS), "smooth": dict(SMOOTH_DEFAULTS)}
    test_cfg[section][key] = value
    with pytest.raises(ConfigError, match=re.escape(says)) as error:
        tracking(_NoTracking(), test_cfg, "xywh", smooth=True)
    assert section == "track" or isinstance(error.value, ValueError)  # the smoother's were ValueErrors: still are


@pytest.mark.parametrize("option, says", [
    ("test.track.high_thr=5", "test.track.high_thr: must be between 0 and 1, got 5"),
    ("test.track.lost_frames=-5", "test.track.lost_frames: must be at least 0, got -5"),
    ("test.smooth.filter=bogus", "test.smooth.filter must be one of kalman, one_euro, not 'bogus'"),
])
def test_infer_pose_refuses_bad_tracker_settings_before_any_output(tmp_path, option, says):
    """Was: high_thr 5 ran with every track_id None, lost_frames -5 and filter bogus tracebacks."""
    frames, dets, _ = _clip(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=re.escape(says)):
        infer_pose.main([str(frames), "--weights", str(_pose_checkpoint(tmp_path)), "--boxes", str(dets), "--track",
                         "--smooth", "--backend", "torch", "--out", str(out), "--cfg-options", option])
    assert not out.exists()


def test_smoother_settings_stay_value_errors_for_the_api():
    with pytest.raises(ValueError, match="test.smooth.filter must be one of kalman, one_euro"):
        KeypointSmoother(filter="median")
    KeypointSmoother(filter="one_euro", min_cutoff=0.5, beta=0.0)  # good settings pass


@pytest.mark.parametrize("min_hits", [2, 3, 5])
def test_a_new_track_gets_its_id_on_its_min_hits_th_frame(min_hits):
    """One object from frame 1 (an id at once), one appearing at frame 10: its id on its
    min_hits-th frame (it was frame 11 for min_hits 1 and 2 alike: 1 is now refused)."""
    dets = ([MotBox(t, -1, 10 + 2 * t, 50, 40, 80, 0.9) for t in range(1, 41)] +
            [MotBox(t, -1, 300, 200, 40, 80, 0.9) for t in range(10, 41)])
    tracked = track_mot(dets, TrackerConfig(min_hits=min_hits))
    assert min(b.frame for b in tracked if b.x == 300) == 10 + min_hits - 1
    assert min(b.frame for b in tracked if b.x != 300) == 1


def test_the_trackers_memory_stays_flat_in_the_videos_length():
    """Objects living 25 frames each, three at a time, over 300 frames: dozens of tracks come and
    go; the ids kept are those of the library's live tracks (they were never forgotten)."""
    tracker = Tracker()
    for f in range(300):
        people = []
        for k in range(3):
            age = (f + 8 * k) % 25
            people.append({"bbox": [20 + 4 * age + 90 * k, 40, 40, 80], "score": 0.9})
        tracker.update(people)
    library, _ = tracker._per_label[None]
    assert tracker._next_id > 30  # many tracks were made ...
    assert len(tracker._ids) <= sum(t.tracker_id >= 0 for t in library.tracks) <= 10  # ... few are kept


def test_det_every_with_a_boxes_file_is_refused(tmp_path):
    dets = write_mot(tmp_path / "dets.txt", [MotBox(1, -1, 0, 0, 10, 10, 0.9)])
    with pytest.raises(ConfigError, match="--det-every 5: the person boxes come from the boxes file"):
        PersonBoxes(dets, None, det_every=5)
    assert PersonBoxes(dets, None, det_every=1)(np.zeros((20, 20, 3), np.uint8)) == [[0, 0, 10, 10, 0.9]]
    with pytest.raises(ConfigError, match="--det-every 5"):  # before the weights are looked for
        infer_pose.main([str(tmp_path), "--weights", str(tmp_path / "none.pth"), "--boxes", str(dets), "--track",
                         "--det-every", "5", "--out", str(tmp_path / "out")])


def test_an_odd_frame_size_is_padded_not_cut(tmp_path, caplog):
    """321x241 frames gave a 320x240 video (the encoders write even sizes): now 322x242, every
    pixel where it was, one black column and row added."""
    for i in range(3):
        write_image(tmp_path / "frames" / f"{i:03d}.png", np.full((241, 321, 3), 200, np.uint8))
    with caplog.at_level("INFO", logger="hrseg"):
        summary = process_video(tmp_path / "frames", tmp_path / "out", lambda f: ({}, f), progress=False)
    video = cv2.VideoCapture(summary["video"])
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape[:2] == (242, 322)
    assert abs(float(frame[:241, :321].mean()) - 200) < 3 and frame[:, 321].max() < 40 and frame[241].max() < 40
    assert "the frames are 321x241; the video is 322x242" in caplog.text


def test_nothing_counted_is_no_jitter():
    assert np.isnan(second_difference({}, lambda key: np.ones(17, bool)))
    assert shown(float("nan")) == shown(None) == "n/a" and shown(0.12345) == "0.123" and shown(7.0, 0) == "7"


def test_track_study_checks_its_results_file_first(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(DataError, match="nope.json: --results .* file not found"):
        track_study.main([str(root), "--results", str(tmp_path / "nope.json")])
    (tmp_path / "dict.json").write_text("{}")
    with pytest.raises(DataError, match="a list of COCO keypoint results"):
        track_study.main([str(root), "--results", str(tmp_path / "dict.json")])
    assert not root.exists()  # no sequence written, no table measured


@pytest.mark.parametrize("argument, says", [
    (["--swap-margin", "nan"], "argument --swap-margin: expected a finite number, got nan"),
    (["--swap-margin", "-1"], "argument --swap-margin: must be at least 0, got -1.0"),
    (["--min-hits", "1"], "argument --min-hits: must be at least 2"),
    (["--high-thr", "2"], "argument --high-thr: must be between 0 and 1, got 2.0"),
    (["--json"], "--json prints the metrics of --eval as JSON: give --eval GT too"),
])
def test_track_refuses_options_that_would_do_nothing_or_harm(tmp_path, capsys, argument, says):
    dets = write_mot(tmp_path / "dets.txt", [MotBox(1, -1, 0, 0, 10, 10, 0.9)])
    with pytest.raises(SystemExit) as exit_:
        track.main([str(dets), "--out", str(tmp_path / "res.txt"), *argument])
    assert exit_.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "res.txt").exists()


def test_track_says_a_missing_frames_folder_is_not_found(tmp_path):
    dets = write_mot(tmp_path / "dets.txt", [MotBox(1, -1, 0, 0, 10, 10, 0.9)])
    with pytest.raises(DataError, match="nodir: --frames folder not found"):
        track.main([str(dets), "--out", str(tmp_path / "res.txt"), "--frames", str(tmp_path / "nodir")])
