"""The synthetic COCO person-keypoint generator: format, label consistency, determinism, caching."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.data.synthetic.pose import (
    MARKER_NAME,
    Person,
    Pose,
    SceneParams,
    dataset_paths,
    ensure_synthetic_pose,
    generate_synthetic_pose,
    make_box,
    render_scene,
    sample_palette,
    sample_person,
)
from hrseg.data.pose.dataset import CocoPoseDataset
from hrseg.errors import ConfigError
from hrseg.meta.keypoints import KeypointSet, keypoint_set_from_category

COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]
SIZE = (128, 160)  # (H, W): not square, so a swapped axis shows
TINY = dict(num_train=8, num_val=4, image_size=SIZE, seed=3, log=None)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic_pose")
    generate_synthetic_pose(root, **TINY)
    return root


def _load(root: Path, split: str, kind: str) -> dict:
    return json.loads(dataset_paths(root, split)[kind].read_text())


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_identical_files(dataset, tmp_path):
    generate_synthetic_pose(tmp_path / "again", **TINY)
    again = _files(tmp_path / "again")
    assert again == _files(dataset)
    assert sum(name.endswith(".jpg") for name in again) == 12
    generate_synthetic_pose(tmp_path / "other", **{**TINY, "seed": 4})
    other = _files(tmp_path / "other")
    name = "annotations/person_keypoints_train.json"
    assert other[name] != again[name]


@pytest.mark.parametrize("split", ["train", "val"])
def test_files_load_in_pycocotools_with_the_coco_person_category(dataset, split):
    with contextlib.redirect_stdout(io.StringIO()):
        kp = COCO(str(dataset_paths(dataset, split)["person_keypoints"]))
        inst = COCO(str(dataset_paths(dataset, split)["instances"]))
    (person,) = kp.loadCats(kp.getCatIds())
    assert (person["id"], person["name"]) == (1, "person")
    assert person["keypoints"] == COCO_KEYPOINTS and person["skeleton"] == COCO_SKELETON
    names = {c["id"]: c["name"] for c in inst.loadCats(inst.getCatIds())}
    assert names[1] == "person" and len(set(names.values())) == len(names) >= 3
    assert len(kp.getImgIds()) == TINY[f"num_{split}"] and kp.getImgIds() == inst.getImgIds()
    for img in kp.loadImgs(kp.getImgIds()):
        assert (img["height"], img["width"]) == SIZE
        assert (dataset_paths(dataset, split)["images"] / img["file_name"]).is_file()


def _inside(x: float, y: float, box: list[float]) -> bool:
    return box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]


@pytest.mark.parametrize("split", ["train", "val"])
def test_keypoints_boxes_and_flags_are_consistent(dataset, split):
    h, w = SIZE
    anns = _load(dataset, split, "person_keypoints")["annotations"]
    assert len(anns) >= TINY[f"num_{split}"]
    for a in anns:
        x, y, bw, bh = a["bbox"]
        assert 0 <= x and 0 <= y and bw > 0 and bh > 0
        assert x + bw <= w + 1e-6 and y + bh <= h + 1e-6
        assert a["iscrowd"] == 0 and a["category_id"] == 1 and 0 < a["area"] <= bw * bh
        assert all(len(poly) >= 6 and len(poly) % 2 == 0 for poly in a["segmentation"])
        kps = np.array(a["keypoints"], dtype=float).reshape(17, 3)
        assert set(kps[:, 2]) <= {0, 1, 2}
        assert a["num_keypoints"] == int((kps[:, 2] > 0).sum())
        for px, py, v in kps:
            if v == 0:
                assert px == 0 and py == 0
            else:
                assert 0 <= px <= w - 1 and 0 <= py <= h - 1
                assert _inside(px, py, a["bbox"])


def test_instances_persons_are_the_keypoint_persons(dataset):
    ids = []
    for split in ("train", "val"):
        kp = _load(dataset, split, "person_keypoints")
        inst = _load(dataset, split, "instances")
        people = [a for a in inst["annotations"] if a["category_id"] == 1]
        no_kps = [{k: v for k, v in a.items() if k not in ("keypoints", "num_keypoints")}
                  for a in kp["annotations"]]
        assert people == no_kps
        assert inst["images"] == kp["images"]
        ids += [a["id"] for a in inst["annotations"]]
        for a in inst["annotations"]:
            assert a["area"] > 0 and a["bbox"][2] > 0 and a["bbox"][3] > 0
    assert len(ids) == len(set(ids))
    train = {i["id"] for i in _load(dataset, "train", "instances")["images"]}
    assert not train & {i["id"] for i in _load(dataset, "val", "instances")["images"]}


def test_ground_truth_as_results_scores_full_keypoint_ap(dataset):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(dataset_paths(dataset, "val")["person_keypoints"]))
        res = gt.loadRes([{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
                           "score": 1.0} for a in gt.dataset["annotations"]])
        ev = COCOeval(gt, res, "keypoints")
        ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def _standing(yaw: float, centre=(60.0, 70.0), scale: float = 100.0, depth: float = 0.0) -> Person:
    """A figure with arms and legs hanging straight, facing the camera turned by ``yaw``."""
    straight = ((10.0, 0.0), (10.0, 0.0))
    legs = ((5.0, 0.0), (5.0, 0.0))
    pose = Pose(0.0, 0.0, 0.0, straight, straight, legs, legs)
    return Person(pose, yaw, 0.0, scale, centre, sample_palette(np.random.default_rng(0)), depth)


def _flags(entities, size=(140, 120)) -> np.ndarray:
    canvas = render_scene(entities, np.full((*size, 3), 127, np.uint8))
    return np.array(entities[0].keypoints(canvas.labels, 1)).reshape(17, 3)


def test_joints_behind_a_nearer_object_are_labelled_not_visible():
    person = _standing(0.0)
    assert (_flags([person])[:, 2] == 2).all()
    trunk = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
    torso = np.mean([person.xy[n] for n in trunk], 0)
    in_front = make_box(np.random.default_rng(0), torso, 40.0, depth=1.0)
    flags = _flags([person, in_front])[:, 2]
    hidden = [COCO_KEYPOINTS.index(n) for n in trunk]
    assert (flags[hidden] == 1).all()
    assert (flags[[COCO_KEYPOINTS.index("left_ankle"), COCO_KEYPOINTS.index("nose")]] == 2).all()
    behind = make_box(np.random.default_rng(0), torso, 40.0, depth=-1.0)
    assert (_flags([person, behind])[:, 2] == 2).all()


def test_a_nearer_person_hides_joints_and_the_border_cuts_them():
    back, front = _standing(0.0, (60.0, 70.0)), _standing(0.0, (75.0, 75.0), depth=1.0)
    flags = _flags([back, front])[:, 2]
    assert 1 in flags and 2 in flags
    cut = _flags([_standing(0.0, (60.0, 20.0))])  # the head is above the image
    assert (cut[:5] == 0).all() and (cut[15:, 2] == 2).all()


def test_back_view_swaps_left_and_right_and_hides_the_face():
    i = COCO_KEYPOINTS.index
    front, back = _standing(0.0), _standing(180.0)
    assert front.xy["left_shoulder"][0] > front.xy["right_shoulder"][0]
    assert back.xy["left_shoulder"][0] < back.xy["right_shoulder"][0]
    assert (_flags([front])[:5, 2] == 2).all()
    face = _flags([back])[:5]
    assert (face[[i("nose"), i("left_eye"), i("right_eye")]] == 0).all()
    assert (face[[i("left_ear"), i("right_ear")], 2] > 0).all()


def test_people_are_tall_enough_to_resolve_the_joints():
    rng = np.random.default_rng(0)
    params = SceneParams(min_person_height=48)
    for _ in range(50):
        x0, y0, x1, y1 = sample_person(rng, (256, 256), params).box()
        assert max(x1 - x0, y1 - y0) >= 40


def test_ensure_generates_only_when_missing_incomplete_or_different(tmp_path):
    root = tmp_path / "data"
    messages: list[str] = []
    small = dict(num_train=2, num_val=1, image_size=(96, 96), seed=0, progress_every=0,
                 log=messages.append)

    def generated(**changes) -> bool:
        messages.clear()
        ensure_synthetic_pose(root, **{**small, **changes})
        return any("wrote" in m for m in messages)

    assert generated()
    assert not generated()  # complete, same settings
    next(dataset_paths(root, "val")["images"].glob("*.jpg")).unlink()  # a lost image
    assert generated() and not generated()
    (root / MARKER_NAME).unlink()  # an interrupted run leaves no completion marker
    assert generated() and (root / MARKER_NAME).is_file()
    assert generated(num_train=3)  # other settings
    assert len(_load(root, "train", "person_keypoints")["images"]) == 3
    assert not generated(num_train=3)
    assert generated(num_train=1)  # a smaller set leaves no stale images behind
    assert len(list(dataset_paths(root, "train")["images"].glob("*.jpg"))) == 1


def test_progress_is_printed(tmp_path, capsys):
    """On stderr: a command's stdout stays its result (bench-train --json)."""
    generate_synthetic_pose(tmp_path, num_train=2, num_val=1, image_size=(96, 96), progress_every=1)
    out, err = capsys.readouterr()
    assert "train 1/2" in err and "train 2/2" in err and "val 1/1" in err and out == ""


BAD_SETTINGS = [dict(num_train=-1), dict(num_train=0, num_val=0), dict(image_size=(32, 256)),
                dict(params=SceneParams(max_people=0))]


@pytest.mark.parametrize("bad", BAD_SETTINGS)
def test_bad_settings_raise_config_error(tmp_path, bad):
    with pytest.raises(ConfigError):
        generate_synthetic_pose(tmp_path, **{**TINY, **bad})
    assert not any(tmp_path.iterdir())


# Another skeleton: 9 of the figure's points under other names (not COCO's 17), with l_/r_ sides.
NINE = KeypointSet(names=("head", "neck", "l_hand", "r_hand", "pelvis", "l_knee", "r_knee", "l_toe", "r_toe"),
                   sigmas=(0.05,) * 9, skeleton=((0, 1), (1, 2), (1, 3), (1, 4), (4, 5), (4, 6), (5, 7), (6, 8)),
                   name="nine")
NINE_SOURCES = ("head", "neck", "left_hand", "right_hand", "pelvis", "left_knee", "right_knee", "left_toe",
                "right_toe")


def test_another_keypoint_set_loads_in_the_pose_dataset(dataset, tmp_path):
    root = tmp_path / "nine"
    generate_synthetic_pose(root, **TINY, keypoints=NINE, keypoint_sources=NINE_SOURCES)
    files, coco_files = _files(root), _files(dataset)
    images = [n for n in coco_files if n.endswith(".jpg")]
    assert images and all(files[n] == coco_files[n] for n in images)  # the set changes the labels only
    doc = _load(root, "train", "person_keypoints")
    category = doc["categories"][0]
    assert category["keypoints"] == list(NINE.names)
    assert category["skeleton"] == [[a + 1, b + 1] for a, b in NINE.skeleton]

    coco = {a["id"]: a for a in _load(dataset, "train", "person_keypoints")["annotations"]}
    labelled = 0
    for ann in doc["annotations"]:
        kps = np.array(ann["keypoints"], dtype=float).reshape(9, 3)
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum())
        same = np.array(coco[ann["id"]]["keypoints"], dtype=float).reshape(17, 3)
        assert np.array_equal(kps[5:7], same[[13, 14]])  # the knees are COCO joints: the same labels
        outline = np.concatenate([np.reshape(p, (-1, 2)) for p in ann["segmentation"]])
        shown = kps[kps[:, 2] == 2, :2]  # a visible point lies on its figure's visible pixels
        assert np.all(shown >= outline.min(0) - 1) and np.all(shown <= outline.max(0) + 1)
        labelled += len(shown)
    assert labelled > 0

    paths = dataset_paths(root, "train")
    keypoints = keypoint_set_from_category(category, sigmas=NINE.sigmas)
    assert keypoints.num_joints == 9 and keypoints.names == NINE.names
    assert keypoints.flip_pairs == ((2, 3), (5, 6), (7, 8))  # from the l_/r_ names
    for train in (True, False):
        ds = CocoPoseDataset(paths["person_keypoints"], paths["images"], train, input_size=(64, 48),
                             heatmap_size=(16, 12), sigma=1.0, keypoints=keypoints)  # (H, W)
        assert ds.flip_index == (0, 1, 3, 2, 4, 6, 5, 8, 7)
        assert tuple(ds[0]["target"].shape) == (9, 16, 12)


def test_a_keypoint_set_needs_known_body_points(tmp_path):
    with pytest.raises(ConfigError, match="no body point 'tail'"):
        generate_synthetic_pose(tmp_path, **TINY, keypoints=NINE, keypoint_sources=NINE_SOURCES[:-1] + ("tail",))
    with pytest.raises(ConfigError, match="8 body points for 9 keypoints"):
        generate_synthetic_pose(tmp_path, **TINY, keypoints=NINE, keypoint_sources=NINE_SOURCES[:-1])
    assert not any(tmp_path.iterdir())
