"""The tracker glue (hrseg/inference/tracking.py): ids across frames, ByteTrack's low-score pass
and lost-track buffer, OKS for people, one tracker per label, boxes from keypoints."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from hrseg.data.mot import MotBox
from hrseg.inference.tracking import boxes_from_keypoints, keypoint_array

needs_track = pytest.mark.skipif(importlib.util.find_spec("trackers") is None,
                                 reason="the tracking extra is not installed (pip install -e '.[track]')")


def _person(x, y, score=0.9, kpts=None):
    return {"bbox": [x, y, 40, 100], "score": score, "keypoints": kpts}


def _run(tracker, frames):
    return [[d["track_id"] for d in tracker.update(dets)] for dets in frames]


@needs_track
def test_ids_follow_two_walkers_in_input_order():
    from hrseg.inference.tracking import Tracker

    frames = [[_person(10 + 4 * f, 10), _person(300 - 4 * f, 20)] for f in range(8)]
    frames = [dets[::-1] if f % 2 else dets for f, dets in enumerate(frames)]  # the order the detector gives
    ids = _run(Tracker(), frames)
    assert all(sorted(i) == [1, 2] for i in ids)  # the first frame's objects get ids at once
    walker_ids = {(frames[f][k]["bbox"][1], ids[f][k]) for f in range(8) for k in range(2)}
    assert walker_ids == {(10, 1), (20, 2)}  # each walker (its y) keeps its id, whatever the order
    out = Tracker().update([_person(1, 2, kpts=None)])
    assert out[0]["bbox"] == [1, 2, 40, 100] and out[0]["score"] == 0.9  # the dict comes back, copied


@needs_track
def test_low_score_second_pass_and_lost_buffer():
    from hrseg.inference.tracking import Tracker, TrackerConfig

    tracker = Tracker(TrackerConfig(lost_frames=6, frame_rate=30))
    ids = _run(tracker, [[_person(10 + 3 * f, 10)] for f in range(3)])
    assert ids == [[1], [1], [1]]
    assert _run(tracker, [[_person(19, 10, score=0.3)]]) == [[1]]  # low score continues the track
    assert _run(tracker, [[_person(22, 10), _person(200, 10, score=0.3)]]) == [[1, None]]  # never starts one
    assert _run(tracker, [[] for _ in range(4)]) == [[]] * 4  # lost for 4 frames: kept
    assert _run(tracker, [[_person(37, 10)]]) == [[1]]
    assert _run(tracker, [[] for _ in range(12)] + [[_person(73, 10)], [_person(76, 10)]])[-2:] == [[None], [2]]
    assert _run(tracker, [[_person(76, 10, score=0.05)]]) == [[None]]  # under low_thr: ignored
    later = Tracker()  # after the first frame, a new track gets its id on its second frame
    assert _run(later, [[_person(10, 10)], [_person(12, 10), _person(200, 10)], [_person(14, 10), _person(202, 10)]]) \
        == [[1], [1, None], [1, 2]]


@needs_track
def test_labels_are_tracked_apart_and_xyxy_boxes():
    from hrseg.inference.tracking import Tracker

    tracker = Tracker(box_format="xyxy")
    frames = [[{"bbox": [10 + f, 10, 50 + f, 60], "score": 0.9, "label": 1},
               {"bbox": [10 + f, 10, 50 + f, 60], "score": 0.9, "label": 3}] for f in range(3)]
    assert _run(tracker, frames) == [[1, 2], [1, 2], [1, 2]]
    tracker.reset()
    assert _run(tracker, frames[1:3]) == [[1, 2], [1, 2]]
    with pytest.raises(ValueError, match="box_format"):
        Tracker(box_format="cxcywh")


def _skeleton(x0):
    """17 keypoints spread over a 40 x 100 box starting at x0, a layout of its own per x0."""
    rng = np.random.default_rng(int(x0))
    return np.column_stack([x0 + rng.uniform(2, 38, 17), rng.uniform(5, 95, 17), np.full(17, 0.9)])


@needs_track
def test_oks_keeps_identities_where_boxes_alone_swap_them():
    from hrseg.inference.tracking import Tracker, TrackerConfig

    a, b = _skeleton(0), _skeleton(30)
    before = [[_person(0, 0, kpts=a.tolist()), _person(30, 0, kpts=b.tolist())] for _ in range(3)]
    # both step to nearly the same box; the first detection now shows B's body, the second A's
    crossing = [_person(15, 0, kpts=(b + [-15, 0, 0]).tolist()), _person(15.5, 0, kpts=(a + [15.5, 0, 0]).tolist())]
    with_oks = _run(Tracker(TrackerConfig(oks_weight=0.5)), before + [crossing])
    iou_only = _run(Tracker(TrackerConfig(oks_weight=0.0)), before + [crossing])
    assert with_oks[2] == iou_only[2] == [1, 2]  # A is 1, B is 2
    assert with_oks[3] == [2, 1]
    assert iou_only[3] == [1, 2]


@needs_track
def test_keypoint_confidence_keeps_clutter_from_starting_tracks():
    from hrseg.inference.tracking import Tracker, TrackerConfig

    person, clutter = _skeleton(10), _skeleton(200)
    clutter[:, 2] = 0.05  # the detector's box is sure (0.8), the pose model finds no body in it
    frames = [[_person(10 + 2 * f, 10, 0.8, (person + [2 * f, 0, 0]).tolist()), _person(200, 10, 0.8, clutter.tolist())]
              for f in range(4)]
    sure = TrackerConfig(keypoint_score_power=0.5)
    assert _run(Tracker(sure), frames) == [[1, None]] * 4  # 0.8 x 0.05 ** 0.5 = 0.18: under new_track_thr
    assert _run(Tracker(), frames) == [[1, 2]] * 4  # the default: the box score alone
    tracker = Tracker(sure)
    tracker.update(frames[0])  # a tracked person whose keypoints fade continues the track (low-score pass)
    faded = person + [2, 0, 0]
    faded[:, 2] = 0.1
    assert _run(tracker, [[_person(12, 10, 0.8, faded.tolist())]]) == [[1]]


@needs_track
def test_track_mot_ages_tracks_through_empty_frames():
    from hrseg.inference.tracking import TrackerConfig, track_mot

    dets = [MotBox(f, -1, 10 + 2 * f, 5, 30, 60, 0.9) for f in (1, 2, 3, 9, 10)]
    out = track_mot(dets, TrackerConfig(lost_frames=3, frame_rate=30))
    assert [(b.frame, b.id) for b in out] == [(1, 1), (2, 1), (3, 1), (10, 2)]  # frames 4-8 without: lost


def test_keypoint_array_forms():
    named = {"nose": [1, 2, 0.5], "left_eye": [3, 4, 0.25]}
    assert keypoint_array(named).tolist() == [[1, 2, 0.5], [3, 4, 0.25]]
    assert keypoint_array([1, 2, 0.5, 3, 4, 0.25]).tolist() == keypoint_array([[1, 2, 0.5], [3, 4, 0.25]]).tolist()


def test_boxes_from_keypoints():
    person = {"bbox": [0, 0, 1, 1], "score": 0.5, "box_score": 0.8,
              "keypoints": [[10, 20, 0.9], [30, 60, 0.8], [500, 500, 0.1]]}
    # the joints' box (20 x 40 about (20, 40)) grown 1.25 times: 25 x 50
    assert boxes_from_keypoints([person]) == [[7.5, 15.0, 25.0, 50.0, 0.8]]
    # to the model's aspect ratio 3:4 first, as box_to_center_scale does: 30 x 40 -> 37.5 x 50
    assert boxes_from_keypoints([person], aspect_ratio=0.75) == [[1.25, 15.0, 37.5, 50.0, 0.8]]
    assert boxes_from_keypoints([{**person, "keypoints": person["keypoints"][:1]}]) == []  # one joint: no box
    assert boxes_from_keypoints([{"score": 0.7, "keypoints": {"a": [0, 0, 1], "b": [4, 8, 1]}}],
                                expansion=1.0) == [[0.0, 0.0, 4.0, 8.0, 0.7]]


def _frame(people):
    """A grey 320x480 RGB frame with each (x, y, colour) person drawn as a 40x100 box of clothes."""
    image = np.full((320, 480, 3), 128, np.uint8)
    for x, y, colour in people:
        image[y:y + 100, x:x + 40] = colour
    return image


@needs_track
def test_a_person_who_leaves_and_comes_back_gets_the_id_again_from_their_look():
    from hrseg.inference.appearance import appearance, similarity
    from hrseg.inference.tracking import Tracker, TrackerConfig

    red, blue = (200, 30, 30), (20, 30, 120)
    a, b = appearance(_frame([(10, 10, red)]), [10, 10, 50, 110]), appearance(_frame([(300, 10, blue)]), [300, 10, 340, 110])
    assert similarity(a, a) == pytest.approx(1.0) and similarity(a, b) < 0.2

    def run(tracker, with_frames):
        ids = []
        walk = [[(10 + 4 * f, 10, red)] for f in range(6)] + [[] for _ in range(40)]  # walks out, 40 frames gone
        walk += [[(400 - 4 * f, 150, red)] for f in range(4)] + [[(200 - 4 * f, 150, blue)] for f in range(4)]
        for people in walk:
            dets = [_person(x, y) for x, y, _ in people]
            ids.append([d["track_id"] for d in tracker.update(dets, _frame(people) if with_frames else None)])
        return ids

    ids = run(Tracker(), with_frames=True)
    assert ids[0] == [1] and ids[47:50] == [[1]] * 3  # back (somewhere else): the same id, from the look
    assert ids[-1] == [2]  # someone who looks different is someone new
    assert run(Tracker(), with_frames=False)[47:50] == [[2]] * 3  # motion alone: a new id
    assert run(Tracker(TrackerConfig(reid_thr=None)), with_frames=True)[47:50] == [[2]] * 3
    assert run(Tracker(TrackerConfig(reid_frames=20)), with_frames=True)[47:50] == [[2]] * 3  # gone too long


@needs_track
def test_ids_swapped_in_a_crossing_are_given_back_by_look():
    """Two people meet, overlap and turn back: the motion model carries each id on across the
    other (a swap); once apart, each looks like the other id's remembered look, so the ids swap back."""
    from hrseg.inference.tracking import Tracker, TrackerConfig

    red, blue = (200, 30, 30), (20, 30, 120)
    xs = [100 + 10 * f for f in range(9)] + [180 - 10 * f for f in range(1, 9)]  # red walks right, turns back at 180
    frames = [[(x, 10, red), (360 - x, 10, blue)] for x in xs]  # blue walks left from 260, meets red, turns back

    def run(tracker):
        ids = []
        for people in frames:
            dets = [_person(x, y) for x, y, _ in people]
            ids.append([d["track_id"] for d in tracker.update(dets, _frame(people))])
        return ids

    motion = run(Tracker(TrackerConfig(swap_margin=None, look_gate=None)))
    assert motion[0] == [1, 2] and motion[-1] == [2, 1]  # the motion model swapped them
    ids = run(Tracker(TrackerConfig(look_gate=None)))
    assert ids[0] == [1, 2] and ids[-1] == [1, 2]  # red is 1 and blue 2 again once apart
    gated = run(Tracker(TrackerConfig(swap_margin=None)))  # the look gate alone: no swap survives
    assert gated[-1] == [1, 2] and all(i == [1, 2] for i in gated[11:])
    assert run(Tracker())[-1] == [1, 2]


@needs_track
def test_the_look_gate_keeps_a_hidden_persons_id_from_whoever_walks_where_they_were():
    """Red walks right and is hidden (no detection) for two frames; blue appears where red's
    motion model predicts red. Motion alone hands red's id to blue; the look gate does not."""
    from hrseg.inference.tracking import Tracker, TrackerConfig

    red, blue = (200, 30, 30), (20, 30, 120)
    frames = [[(20 + 10 * f, 10, red)] for f in range(6)] + [[], []] + [[(100 + 10 * f, 10, blue)] for f in range(6)]

    def run(tracker, with_frames=True):
        return [[d["track_id"] for d in tracker.update([_person(x, y) for x, y, _ in people],
                                                          _frame(people) if with_frames else None)]
                for people in frames]

    assert run(Tracker(TrackerConfig(look_gate=None)))[-1] == [1]  # blue took red's id
    assert run(Tracker(), with_frames=False)[-1] == [1]  # no frames, no looks: motion alone
    gated = run(Tracker())
    assert gated[:6] == [[1]] * 6 and gated[-1] == [2]  # blue is someone new


@needs_track
def test_memory_stays_flat_over_a_long_video():
    """People who come, overlap another and go, frame after frame: what the tracker keeps of lost
    ids (looks, crossing marks) is bounded by reid_frames, not by the video's length."""
    from hrseg.inference.tracking import Tracker

    tracker, red, blue = Tracker(), (200, 30, 30), (20, 30, 120)
    for f in range(640):
        x = 20 + 40 * ((f // 8) % 10)  # a new overlapping pair every 8 frames, somewhere else
        people = [(x, 10 + 100 * ((f // 80) % 2), red), (x + 15, 10 + 100 * ((f // 80) % 2), blue)]
        tracker.update([_person(px, py) for px, py, _ in people], _frame(people))
    assert tracker._next_id > 60  # many ids came and went
    assert len(tracker._looks) <= 50 and len(tracker._crossed) <= 50


@needs_track
@pytest.mark.parametrize("move", ["pan", "zoom"])
def test_ids_stay_constant_in_a_clip_made_from_a_photograph(shared_data, move):
    """A real photograph of thirteen people, panned across or zoomed into (60 JPEG frames), with
    its people's ground-truth boxes clipped to each frame: each person keeps one id from the
    frame after they are first seen to the last, with the looks and the look gate on. People
    cut by the frame's edge show part of themselves; the gate leaves such boxes alone (with
    them gated, two people here lost their ids)."""
    import json

    import cv2

    from hrseg.inference.tracking import Tracker
    from hrseg.utils.image_io import read_image

    coco = json.loads((shared_data / "coco_mini" / "person_keypoints.json").read_text())
    image_id = 329323
    boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == image_id and not a.get("iscrowd")
             and a["bbox"][3] > 60]
    name = next(im["file_name"] for im in coco["images"] if im["id"] == image_id)
    photo = read_image(shared_data / "coco_mini" / "images" / name)
    h, w = photo.shape[:2]
    assert len(boxes) == 13
    tracker, ids = Tracker(), {}
    for f in range(60):
        if move == "pan":  # a window of 80% of the photo moving from its left edge to its right
            scale, x0, y0 = 1.0, int(0.2 * w * f / 59), int(0.1 * h)
            frame = photo[y0:y0 + int(0.8 * h), x0:x0 + int(0.8 * w)]
        else:  # zooming in on the middle, up to 1.4 times
            zw, zh = int(w / (1 + 0.4 * f / 59)), int(h / (1 + 0.4 * f / 59))
            x0, y0 = (w - zw) // 2, (h - zh) // 2
            scale, frame = w / zw, cv2.resize(photo[y0:y0 + zh, x0:x0 + zw], (w, h))
        jpeg = cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        frame = np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[..., ::-1])  # a video's frame, RGB
        people = []
        for k, (x, y, bw, bh) in enumerate(boxes):
            left, top = max((x - x0) * scale, 0), max((y - y0) * scale, 0)
            right, bottom = min((x + bw - x0) * scale, frame.shape[1]), min((y + bh - y0) * scale, frame.shape[0])
            if right - left > 10 and bottom - top > 20:
                people.append({"bbox": [left, top, right - left, bottom - top], "score": 0.9, "person": k})
        for person in tracker.update(people, frame):
            ids.setdefault(person["person"], []).append(person["track_id"])
    for person, seen in ids.items():
        assert len(set(seen[1:])) == 1 and seen[-1] is not None, (person, seen)
    assert len({seen[-1] for seen in ids.values()}) == len(ids)


@needs_track
def test_the_tracker_gets_the_models_keypoint_set():
    """A pose model's tracking (the tools', the service's) associates by its set's OKS sigmas and reads looks
    along its set's limbs: MPII's for an MPII model, not COCO's joint numbers."""
    from hrseg.meta.keypoints import MPII_PERSON
    from hrseg.tasks.pose import TASK

    class Predictor:
        def tracking(self, tracker, smoother):
            return tracker

    cfg = TASK.load_config(None, {"data.format": "mpii"})
    tracker = TASK.tracking(Predictor(), cfg)
    assert tracker.config.sigmas == MPII_PERSON.sigmas and tracker.config.limbs == MPII_PERSON.limb_links
