"""The One-Euro keypoint smoother (hrseg/inference/smoothing.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hrseg.inference.smoothing import ConstantVelocityFilter, KeypointSmoother, OneEuroFilter, joint_motion


def test_one_euro_step_by_the_formula():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, dt=1 / 30)
    assert f(np.array([0.0])).tolist() == [0.0]  # the first value passes
    alpha = 1 / (1 + (1 / (2 * math.pi)) * 30)  # cutoff 1 Hz at 30 frames a second
    assert f(np.array([10.0]))[0] == pytest.approx(10 * alpha)
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0.0)


def test_still_noise_is_damped_and_speed_lowers_lag():
    rng = np.random.default_rng(0)
    noisy = 100 + rng.normal(0, 2, 300)
    f = OneEuroFilter(1.0, 0.05, dt=1 / 25)
    out = np.array([f(np.array([v]))[0] for v in noisy])
    jitter = lambda x: np.abs(np.diff(x, 2)).mean()  # noqa: E731
    assert jitter(out) < 0.3 * jitter(noisy)
    ramp = np.arange(100) * 5.0  # 5 px a frame
    lag = {}
    for beta in (0.0, 0.5):
        f = OneEuroFilter(1.0, beta, dt=1 / 25)
        lag[beta] = (ramp - np.array([f(np.array([v]))[0] for v in ramp]))[-1]
    assert lag[0.5] < 0.2 * lag[0.0]


def _people(frame, *tracks):
    return [{"track_id": t, "score": 0.9, "keypoints": {"nose": [x + frame, 50.0, 0.9], "eye": [x, 40.0, s]}}
            for t, x, s in tracks]


def test_per_track_filters_and_a_fresh_start_when_lost():
    s = KeypointSmoother(min_cutoff=1.0, beta=0.0, frame_rate=30, filter="one_euro")
    s(_people(0, (1, 10, 0.9), (2, 100, 0.9)))
    out = s(_people(1, (1, 20, 0.9), (2, 100, 0.9)))
    assert 10 < out[0]["keypoints"]["eye"][0] < 12  # pulled back toward 10
    assert out[1]["keypoints"]["eye"] == [100.0, 40.0, 0.9] and list(out[1]["keypoints"]) == ["nose", "eye"]
    s(_people(2, (2, 100, 0.9)))  # track 1 missing: its filter is dropped
    back = s(_people(3, (1, 60, 0.9)))
    assert back[0]["keypoints"]["eye"] == [60.0, 40.0, 0.9]  # found again: starts from its raw keypoints
    low = s(_people(4, (1, 80, 0.1)))
    assert low[0]["keypoints"]["eye"] == [80.0, 40.0, 0.1]  # a keypoint under kpt_thr passes raw
    again = s(_people(5, (1, 90, 0.9)))
    assert again[0]["keypoints"]["eye"] == [90.0, 40.0, 0.9]  # and restarts where it reappears
    a = 1 / (1 + 30 / (2 * math.pi))  # the nose, seen throughout, is still filtered: 63, 84, 95 raw
    assert again[0]["keypoints"]["nose"][0] == pytest.approx(63 + a * (84 - 63) + a * (95 - 63 - a * (84 - 63)))
    assert 90 < s(_people(6, (1, 100, 0.9)))[0]["keypoints"]["eye"][0] < 92


def test_untracked_people_and_list_forms_pass():
    s = KeypointSmoother()
    person = {"track_id": None, "keypoints": [1.0, 2.0, 0.9]}
    assert s([person]) == [person]
    flat = [{"track_id": 5, "keypoints": [1.0, 2.0, 0.9, 3.0, 4.0, 0.9]}]
    assert s(flat)[0]["keypoints"] == [1.0, 2.0, 0.9, 3.0, 4.0, 0.9]
    nested = [{"track_id": 5, "keypoints": [[1.0, 2.0, 0.9], [3.0, 4.0, 0.9]]}]
    assert s(nested)[0]["keypoints"] == [[1.0, 2.0, 0.9], [3.0, 4.0, 0.9]]


def test_kalman_step_by_the_equations_and_restart():
    f = ConstantVelocityFilter(process_noise=0.6, measurement_noise=4.0)
    assert f(np.array([10.0]))[0] == 10.0  # the first value is the state
    # predict: x 10, v 0; P = [[4 + 100 + 0.15, 0.3 + 100], [., 100.6]]; correct with 20
    pxx, pxv = 4 + 100 + 0.6 / 4, 100 + 0.6 / 2
    assert f(np.array([20.0]))[0] == pytest.approx(10 + pxx / (pxx + 4) * 10)
    assert f.v[0] == pytest.approx(pxv / (pxx + 4) * 10)
    out = f(np.array([30.0, ]), restart=np.array([True]))
    assert out[0] == 30.0 and f.v[0] == 0.0
    with pytest.raises(ValueError, match="process_noise"):
        ConstantVelocityFilter(process_noise=0.0)
    with pytest.raises(ValueError, match="score_weight"):
        KeypointSmoother(score_weight=-1)
    with pytest.raises(ValueError, match="one of kalman, one_euro"):
        KeypointSmoother(filter="median")


def test_kalman_trusts_each_keypoint_by_its_score():
    """Measurement noise / score ** score_weight: the same jump is followed more by a sure joint
    than by an unsure one, by the equations; score_weight 0 treats them alike."""
    still = {"track_id": 1, "keypoints": {"sure": [10.0, 0.0, 1.0], "unsure": [10.0, 0.0, 0.5]}}
    moved = {"track_id": 1, "keypoints": {"sure": [20.0, 0.0, 1.0], "unsure": [20.0, 0.0, 0.5]}}
    s = KeypointSmoother(process_noise=0.6, measurement_noise=4.0, score_weight=2.0)
    s([still])
    out = s([moved])[0]["keypoints"]
    pxx = 4 + 100 + 0.6 / 4  # the first frame's state is as uncertain as a measurement of noise 4
    assert out["sure"][0] == pytest.approx(10 + pxx / (pxx + 4) * 10)
    assert out["unsure"][0] == pytest.approx(10 + pxx / (pxx + 4 / 0.25) * 10)  # noise 4 / 0.5 ** 2
    assert out["unsure"][2] == 0.5  # scores pass through
    alike = KeypointSmoother(process_noise=0.6, measurement_noise=4.0, score_weight=0.0)
    alike([still])
    out = alike([moved])[0]["keypoints"]
    assert out["sure"][0] == out["unsure"][0]


def test_kalman_follows_steady_motion_without_lag_and_removes_noise():
    """A joint moving 3 px a frame with 2 px noise: the filter's output stays on the line (no lag,
    where One-Euro at the same speed trails it) and its second difference is far smaller."""
    rng = np.random.default_rng(0)
    truth = 3.0 * np.arange(200)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    kalman, one_euro = ConstantVelocityFilter(), OneEuroFilter(1.0, 0.1, dt=1 / 25)
    k = np.array([kalman(np.array([v]))[0] for v in noisy])
    e = np.array([one_euro(np.array([v]))[0] for v in noisy])
    assert abs(np.mean(k[50:] - truth[50:])) < 0.3 < abs(np.mean(e[50:] - truth[50:]))
    jitter = lambda x: np.abs(np.diff(x[50:], 2)).mean()  # noqa: E731
    assert jitter(k) < 0.5 * jitter(noisy)


def test_joint_noise_gives_each_joint_its_share_of_the_process_noise():
    """joint_noise [1, 3] (mean 2) with process_noise 0.6: the first joint's filter runs at 0.3, the
    second's at 0.9, by the equations; the swinging joint follows a jump further than the steady
    one, and a steady joint's noise is damped more than with one process noise for all."""
    still = {"track_id": 1, "keypoints": {"head": [10.0, 0.0, 1.0], "ankle": [10.0, 0.0, 1.0]}}
    moved = {"track_id": 1, "keypoints": {"head": [20.0, 0.0, 1.0], "ankle": [20.0, 0.0, 1.0]}}
    s = KeypointSmoother(process_noise=0.6, measurement_noise=4.0, score_weight=0.0, joint_noise=[1.0, 3.0])
    s([still])
    s([still])  # the filters have met a still frame: their velocities' uncertainty now differs by q
    out, (head, ankle) = s([moved])[0]["keypoints"], (ConstantVelocityFilter(0.3, 4.0), ConstantVelocityFilter(0.9, 4.0))
    for f in (head, ankle):
        f(np.array([10.0])), f(np.array([10.0]))
    assert out["head"][0] == pytest.approx(head(np.array([20.0]))[0])
    assert out["ankle"][0] == pytest.approx(ankle(np.array([20.0]))[0])
    assert out["head"][0] < out["ankle"][0]
    with pytest.raises(ValueError, match="joint_noise must be positive"):
        KeypointSmoother(joint_noise=[1.0, 0.0])
    with pytest.raises(ValueError, match="joint_noise has 3 values, a person has 2 keypoints"):
        KeypointSmoother(joint_noise=[1.0, 1.0, 1.0])([still])


def test_joint_motion_is_each_joints_mean_squared_acceleration_over_the_mean():
    """Joint 0 accelerates 1 px a frame^2, joint 1 3 px: mean squares 1 and 9, mean 5 -> 0.2, 1.8;
    a frame where a joint is unlabelled leaves out the triples it is in, other tracks count too."""
    def track(a0, a1, frames=6):
        return {t: np.array([[a0 * t * t / 2, 0.0, 2.0], [0.0, a1 * t * t / 2, 2.0]]) for t in range(frames)}
    tracks = {(t, "a"): k for t, k in track(1.0, 3.0).items()}
    tracks.update({(t, "b"): k for t, k in track(1.0, 3.0, 4).items()})
    tracks[(2, "a")] = tracks[(2, "a")].copy()
    tracks[(2, "a")][1] = [50.0, 50.0, 0.0]  # unlabelled: ignored, as its position is nonsense
    assert joint_motion(tracks) == pytest.approx([0.2, 1.8])
    with pytest.raises(ValueError, match="never labelled"):
        joint_motion({(t, "a"): k for t, k in track(1.0, 3.0, 2).items()})


def test_the_one_euro_filter_runs_at_each_videos_frame_rate():
    smoother = KeypointSmoother(filter="one_euro")
    smoother.reset(10.0)  # a 10 frames/s video
    assert smoother.one_euro["dt"] == pytest.approx(0.1) and smoother.make().dt == pytest.approx(0.1)
    smoother.reset()  # a folder of frames: the given rate
    assert smoother.one_euro["dt"] == pytest.approx(1 / 30)
