"""COCO person keypoint constants, in one place: names, flip pairs, skeleton, OKS sigmas.

Values are COCO's and the official HRNet code's (``lib/dataset/coco.py``, ``lib/nms/nms.py``);
indices are 0-based except :data:`SKELETON`, which keeps COCO's 1-based form.
"""
from __future__ import annotations

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_JOINTS = len(KEYPOINT_NAMES)

# Left/right joint pairs swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)


def flip_index(flip_pairs: tuple[tuple[int, int], ...] = FLIP_PAIRS,
               num_joints: int = NUM_JOINTS) -> list[int]:
    """The permutation a horizontal flip applies: joint ``i`` of the flipped person is joint
    ``flip_index[i]`` of the original."""
    index = list(range(num_joints))
    for a, b in flip_pairs:
        index[a], index[b] = b, a
    return index


FLIP_INDEX: tuple[int, ...] = tuple(flip_index())

# COCO's skeleton (1-based keypoint indices), as in the category record.
SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)

# Per-keypoint OKS standard deviations (COCOeval's kpt_oks_sigmas and official oks_nms).
OKS_SIGMAS: tuple[float, ...] = tuple(s / 10.0 for s in (
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89))

# Half-body augmentation groups (official upper_body_ids / lower_body_ids).
UPPER_BODY_IDS: tuple[int, ...] = tuple(range(11))
LOWER_BODY_IDS: tuple[int, ...] = tuple(range(11, 17))

# Official per-joint loss weights (LOSS.USE_DIFFERENT_JOINTS_WEIGHT): elbows/knees 1.2,
# wrists/ankles 1.5.
JOINT_WEIGHTS: tuple[float, ...] = (
    1., 1., 1., 1., 1., 1., 1., 1.2, 1.2, 1.5, 1.5, 1., 1., 1.2, 1.2, 1.5, 1.5)

# The category record of a COCO person_keypoints file.
PERSON_CATEGORY_ID = 1
