"""A person's look in video tracking is read along the limbs of the model's own keypoint set
(``KeypointSet.limb_links``), not COCO's joint numbers: COCO's person gives the links hrseg always drew,
MPII's 16 joints theirs, and a 17-keypoint set that is not COCO's its own."""
from __future__ import annotations

import cv2
import numpy as np

from hrseg.inference.appearance import SKELETON_PARTS, appearance
from hrseg.meta.keypoints import COCO_PERSON, MPII_PERSON, KeypointSet

# The COCO links the looks were drawn along before they were derived: torso sides and diagonals, arms, legs
COCO_CLOTHED = {(5, 11), (6, 12), (5, 6), (11, 12), (5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14),
                (14, 16)}
RED, BLUE = (220, 30, 30), (30, 30, 220)


def _pairs(links) -> set[tuple[int, int]]:
    return {tuple(sorted(p)) for p in links}


def test_limb_links_leave_the_head_out():
    assert _pairs(COCO_PERSON.limb_links) == _pairs(COCO_CLOTHED) == _pairs(SKELETON_PARTS)
    names = [(MPII_PERSON.names[a], MPII_PERSON.names[b]) for a, b in MPII_PERSON.limb_links]
    assert ("pelvis", "thorax") in names and ("right_elbow", "right_wrist") in names
    assert not any("head" in a or "neck" in a or "head" in b or "neck" in b for a, b in names)
    assert KeypointSet(names=("a", "b"), sigmas=(0.1, 0.1)).limb_links == ()


def _scene(keypoints: np.ndarray, links, width: int = 120) -> np.ndarray:
    """A blue frame (200 high) with red clothes along ``links`` between ``keypoints`` (K, 3)."""
    image = np.zeros((200, width, 3), np.uint8)
    image[:] = BLUE
    for a, b in links:
        cv2.line(image, tuple(int(v) for v in keypoints[a, :2]), tuple(int(v) for v in keypoints[b, :2]), RED, 16)
    return image


def _red_share(look: np.ndarray) -> float:
    """The share of the hue-saturation histogram in red's hue bins (hue 0, OpenCV's 0..180 in 16 bins)."""
    hs = look[:64].reshape(16, 4)
    return float(hs[[0, 15]].sum() / hs.sum())


def test_an_mpii_person_looks_like_their_clothes():
    """16 joints: along MPII's limbs the look is the clothes'; without them, the box's middle (mostly the
    blue behind a thin figure)."""
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform([20, 20], [100, 180], (16, 2)), np.ones((16, 1))], axis=1)
    image = _scene(keypoints, MPII_PERSON.limb_links)
    box = [0, 0, 120, 200]
    along = appearance(image, box, keypoints, limbs=MPII_PERSON.limb_links)
    middle = appearance(image, box, keypoints)
    assert _red_share(along) > 0.9 > _red_share(middle)


def test_a_17_keypoint_set_that_is_not_cocos_uses_its_own_links():
    """An animal-like set of 17 keypoints whose skeleton is not COCO's: its own links, not COCO's numbers."""
    names = ("left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow", "left_front_paw",
             "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee", "left_back_paw",
             "right_hip", "right_knee", "right_back_paw")
    skeleton = ((0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (3, 8), (8, 9), (9, 10), (4, 11),
                (11, 12), (12, 13), (4, 14), (14, 15), (15, 16))
    animal = KeypointSet(names=names, sigmas=(0.05,) * 17, skeleton=skeleton)
    assert all(0 not in p and 1 not in p and 2 not in p and 3 not in p for p in animal.limb_links)
    # each leg a column (shoulder or hip, elbow or knee, paw from top to bottom), the head above the front legs,
    # the tail above the back legs: the set's links run down the columns, COCO's numbers (shoulder 5 to hip 11,
    # elbow 7 to 9, ...) across
    columns = {5: 20, 8: 70, 11: 120, 14: 170}
    keypoints = np.zeros((17, 3))
    keypoints[:, 2] = 1.0
    keypoints[:5, :2] = [[40, 10], [50, 10], [45, 16], [45, 28], [145, 28]]
    for first, x in columns.items():
        keypoints[first:first + 3, :2] = [[x, 40], [x, 100], [x, 160]]
    image = _scene(keypoints, animal.limb_links, width=200)
    box = [0, 0, 200, 200]
    own = appearance(image, box, keypoints, limbs=animal.limb_links)
    coco_numbers = appearance(image, box, keypoints)  # no set given: COCO's links for 17 keypoints
    assert _red_share(own) > 0.9 and _red_share(own) > _red_share(coco_numbers) + 0.2
