"""What a keypoint set and a keypoint file must be, checked where they are read: OKS sigmas finite and
> 0, flip pairs of two distinct joints each joint in one pair at most, image sizes, ``area`` and
``iscrowd`` of the annotations; and the boxes of any keypoint category as a boxes file's boxes."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from hrseg.data.pose.coco_keypoints import load_coco_keypoints
from hrseg.errors import ConfigError, DataError
from hrseg.inference.person_boxes import read_boxes
from hrseg.meta.keypoints import COCO_PERSON, KeypointSet, flip_index, keypoint_set_from_category
from hrseg.tasks import pose

NAMES = ["snout", "l_ear", "r_ear", "l_paw", "r_paw"]
CRITTER = {"id": 7, "name": "critter", "keypoints": NAMES, "skeleton": [[1, 2], [1, 3]]}
SIGMAS = [0.05, 0.06, 0.06, 0.08, 0.08]


def _critter_file(tmp_path: Path, name: str = "critter.json", image: dict | None = None, **ann_fields) -> Path:
    """A one-image, two-annotation file of the 5-keypoint critter (category 7), with the first
    annotation's fields replaced (a value None: the field left out) and the image's by ``image``."""
    kpts = [10, 10, 2, 20, 12, 2, 5, 12, 2, 25, 40, 1, 0, 0, 0]
    anns = [{"id": 11, "image_id": 3, "category_id": 7, "bbox": [2, 4, 30, 40], "area": 900.0, "iscrowd": 0,
             "keypoints": kpts, "num_keypoints": 4},
            {"id": 12, "image_id": 3, "category_id": 7, "bbox": [50, 5, 20, 20], "area": 300, "iscrowd": 1,
             "keypoints": [0] * 15, "num_keypoints": 0}]
    for key, value in ann_fields.items():
        anns[0].pop(key) if value is None else anns[0].__setitem__(key, value)
    data = {"images": [{"id": 3, "file_name": "c.jpg", "width": 80, "height": 60, **(image or {})}],
            "annotations": anns, "categories": [CRITTER]}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# -- 1. OKS sigmas -----------------------------------------------------------------------------
@pytest.mark.parametrize("sigmas, bad", [
    ([0.1, 0.1, 0.1, 0.1, float("nan")], "nan for keypoint 4 .r_paw."),
    ([0, -1, 0.1, 0.1, 0.1], "0 for keypoint 0 .snout."),
    ([0.1, -1, 0.1, 0.1, 0.1], "-1 for keypoint 1 .l_ear."),
    ([0.1, 0.1, float("inf"), 0.1, 0.1], "inf for keypoint 2 .r_ear."),
    ([0.1, 0.1, 0.1, "x", 0.1], "'x' for keypoint 3 .l_paw."),
])
def test_sigmas_must_be_finite_and_positive(sigmas: list, bad: str):
    """NaN made pycocotools match every detection (AP 0.663 of nothing); 0 or less gave AP 0 silently."""
    with pytest.raises(ValueError, match=f"^data.sigmas: {bad} is not a finite number > 0"):
        keypoint_set_from_category(CRITTER, sigmas)
    with pytest.raises(ConfigError, match=f"^data.sigmas: {bad}"):  # as `hrseg train pose` reads the config
        pose.keypoint_set({"data": {"sigmas": sigmas, "flip_pairs": None}}, CRITTER)
    recorded = {**keypoint_set_from_category(CRITTER, SIGMAS).to_dict(), "sigmas": sigmas}
    with pytest.raises(ConfigError, match=f"^data.keypoints .*: sigmas: {bad}"):  # as a checkpoint records it
        KeypointSet.from_dict(recorded)


def test_valid_sigmas_and_pairs_keep_working():
    critter = keypoint_set_from_category(CRITTER, SIGMAS, [[1, 2], [3.0, 4]])
    assert critter.sigmas == tuple(SIGMAS) and critter.flip_pairs == ((1, 2), (3, 4))
    assert critter.flip_index == (0, 2, 1, 4, 3)
    assert keypoint_set_from_category(CRITTER, SIGMAS).flip_pairs == ((1, 2), (3, 4))  # from the names
    assert KeypointSet.from_dict(critter.to_dict()) == critter
    assert KeypointSet.from_dict(COCO_PERSON.to_dict()) == COCO_PERSON


# -- 2. flip pairs ------------------------------------------------------------------------------
@pytest.mark.parametrize("pairs, why", [
    ([[1, 2], [2, 3]], r"pair \[2, 3\] repeats joint 2, already in pair \[1, 2\]"),  # was index [0, 2, 3, 2, 4]
    ([[1, 2], [3, 1]], r"pair \[3, 1\] repeats joint 1"),
    ([[1, 1]], r"pair \[1, 1\] pairs joint 1 with itself"),
    ([[1, 2, 3]], r"\[1, 2, 3\] is not a pair of two joint indices"),  # was "too many values to unpack"
    ([[1, 5]], r"pair \[1, 5\] is outside the 5 joints 0..4"),
    ([[-1, 2]], r"pair \[-1, 2\] is outside"),
    ([[1, "a"]], r"\[1, 'a'\] is not a pair of two joint indices"),
    ([3], r"3 is not a pair"),
])
def test_flip_pairs_are_pairs_of_distinct_joints_each_in_one_pair(pairs: list, why: str):
    with pytest.raises(ValueError, match=f"^data.flip_pairs: {why}"):
        keypoint_set_from_category(CRITTER, SIGMAS, pairs)
    with pytest.raises(ConfigError, match=f"^data.flip_pairs: {why}"):
        pose.keypoint_set({"data": {"sigmas": SIGMAS, "flip_pairs": pairs}}, CRITTER)
    with pytest.raises(ValueError, match=f"^flip_pairs: {why}"):
        flip_index(pairs, 5)
    recorded = {**keypoint_set_from_category(CRITTER, SIGMAS).to_dict(), "flip_pairs": pairs}
    with pytest.raises(ConfigError, match=f"^data.keypoints .*: flip_pairs: {why}"):
        KeypointSet.from_dict(recorded)


# -- 3. image sizes, area and iscrowd of a keypoint file -----------------------------------------
@pytest.mark.parametrize("image, fields, message", [
    ({"width": "abc"}, {}, 'image id 3 has width "abc"; expected a number > 0'),
    ({"height": 0}, {}, "image id 3 has height 0; expected a number > 0"),
    ({"height": None}, {}, "image id 3 has height null"),
    ({}, {"area": "x"}, 'annotation id 11 has area "x"; expected a finite number >= 0'),
    ({}, {"area": -5}, "annotation id 11 has area -5"),
    ({}, {"iscrowd": "null"}, 'annotation id 11 has iscrowd "null"; expected 0 or 1'),
    ({}, {"iscrowd": 2}, "annotation id 11 has iscrowd 2; expected 0 or 1"),
])
def test_malformed_image_and_annotation_fields_are_one_error_at_load_time(tmp_path: Path, image: dict,
                                                                          fields: dict, message: str):
    """They were a TypeError in ``_clean_box`` (width, area) or in COCOeval after the results were
    written (iscrowd null)."""
    path = _critter_file(tmp_path, "bad_fields.json", image, **fields)
    with pytest.raises(DataError, match=f"^{path}: {message}"):
        load_coco_keypoints(path)


def test_null_iscrowd_is_one_error(tmp_path: Path):
    path = _critter_file(tmp_path, "nullcrowd.json")
    data = json.loads(path.read_text())
    data["annotations"][0]["iscrowd"] = None
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=f"^{path}: annotation id 11 has iscrowd null; expected 0 or 1"):
        load_coco_keypoints(path)


def test_missing_iscrowd_and_area_get_cocos_defaults(tmp_path: Path):
    path = _critter_file(tmp_path, iscrowd=None, area=None)
    coco = load_coco_keypoints(path)
    ann = coco.anns[11]
    assert ann["iscrowd"] == 0 and ann["area"] == 30 * 40  # the box's, as the instances loader fills it
    assert load_coco_keypoints(_critter_file(tmp_path, "bool.json", iscrowd=False)).anns[11]["iscrowd"] is False


# -- 4. a keypoint file's boxes as a boxes file --------------------------------------------------
def test_a_keypoint_files_boxes_are_any_keypoint_categorys(tmp_path: Path):
    """`--boxes` with a 5-keypoint file was "a COCO annotation file without a 'person' category"."""
    boxes = read_boxes(_critter_file(tmp_path))
    assert boxes == {"c.jpg": [[2.0, 4.0, 30.0, 40.0, 1.0]]}  # the crowd region left out
    data = json.loads(_critter_file(tmp_path).read_text())
    mixed = copy.deepcopy(data)  # a 'person' without keypoint names counts too, other classes do not
    mixed["categories"] += [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}]
    mixed["annotations"] += [{"id": 21, "image_id": 3, "category_id": 1, "bbox": [1, 1, 5, 5]},
                             {"id": 22, "image_id": 3, "category_id": 2, "bbox": [9, 9, 5, 5]}]
    (tmp_path / "mixed.json").write_text(json.dumps(mixed))
    assert read_boxes(tmp_path / "mixed.json")["c.jpg"] == [[2.0, 4.0, 30.0, 40.0, 1.0], [1.0, 1.0, 5.0, 5.0, 1.0]]
    cars = {**data, "categories": [{"id": 7, "name": "car"}]}
    (tmp_path / "cars.json").write_text(json.dumps(cars))
    with pytest.raises(DataError, match="cars.json: a COCO annotation file without a 'person' category or a "
                                        "keypoint category"):
        read_boxes(tmp_path / "cars.json")
