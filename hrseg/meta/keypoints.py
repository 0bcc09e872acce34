"""COCO person keypoint constants, in one place: names, flip pairs, skeleton, OKS sigmas; MPII's
16 joints as a :class:`KeypointSet` (:data:`MPII_PERSON`).

Values are COCO's and the official HRNet code's (``lib/dataset/coco.py``, ``lib/nms/nms.py``);
indices are 0-based except :data:`SKELETON`, which keeps COCO's 1-based form. MPII's are the official
code's (``lib/dataset/mpii.py``) and mmpose's (``configs/_base_/datasets/mpii.py``: its skeleton, its
OKS sigmas adapted from COCO's, used by OKS-NMS).
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from hrseg.errors import ConfigError

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_JOINTS = len(KEYPOINT_NAMES)
# The words of a head joint's name (KeypointSet.limb_links leaves the links touching one out)
_HEAD_WORDS = frozenset({"nose", "eye", "eyes", "ear", "ears", "mouth", "lip", "chin", "face", "head", "neck",
                         "forehead", "throat"})

# Left/right joint pairs swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)


def flip_index(flip_pairs: Sequence[Sequence[int]] = FLIP_PAIRS, num_joints: int = NUM_JOINTS,
               key: str = "flip_pairs", what: str = "joint") -> list[int]:
    """The permutation a horizontal flip applies: joint ``i`` of the flipped person is joint
    ``flip_index[i]`` of the original. Each pair is two distinct whole numbers of
    ``0..num_joints-1`` and no index is in two pairs (else the flip would lose a channel); else one
    ValueError naming ``key`` (the config key the pairs came from) and the bad pair; ``what``
    names the indices (joints; a segmentation class would do as well)."""
    if not isinstance(flip_pairs, (list, tuple)):
        raise ValueError(f"{key}: expected a list of [left, right] {what} index pairs, got {flip_pairs!r}")
    index = list(range(num_joints))
    paired: dict[int, Any] = {}
    for pair in flip_pairs:
        ends = [_whole(j) for j in pair] if isinstance(pair, (list, tuple)) else []
        if len(ends) != 2 or None in ends:
            raise ValueError(f"{key}: {pair!r} is not a pair of two {what} indices [left, right]")
        a, b = ends
        if not (0 <= a < num_joints and 0 <= b < num_joints):
            why = f"is outside the {num_joints} {what}s 0..{num_joints - 1}"
        elif a == b:
            why = f"pairs {what} {a} with itself"
        elif a in paired or b in paired:
            twice = a if a in paired else b
            why = f"repeats {what} {twice}, already in pair {paired[twice]!r} (a {what} has at most one twin)"
        else:
            why = ""
        if why:
            raise ValueError(f"{key}: pair {pair!r} {why}")
        paired[a] = paired[b] = pair
        index[a], index[b] = b, a
    return index


def _whole(value: Any) -> int | None:
    """``value`` as an index when it is a whole number (not true or false), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else None


def checked_sigmas(sigmas: Any, names: Sequence[str], key: str = "sigmas") -> tuple[float, ...]:
    """``sigmas`` as floats when they are one finite number > 0 for each of ``names`` (OKS divides
    by them: NaN would match every detection to every person, 0 or less none); else one ValueError
    naming ``key`` (the config key they came from), the keypoint and the bad value."""
    k = len(names)
    if not isinstance(sigmas, (list, tuple)):
        raise ValueError(f"{key}: expected a list of {k} OKS sigmas, got {sigmas!r}")
    if len(sigmas) != k:
        raise ValueError(f"{key}: {len(sigmas)} values for {k} keypoints")
    for i, (s, name) in enumerate(zip(sigmas, names)):
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not (math.isfinite(s) and s > 0):
            raise ValueError(f"{key}: {s!r} for keypoint {i} ({name}) is not a finite number > 0; an OKS sigma is "
                             "a keypoint's spread relative to the person's size (COCO's are 0.025-0.107)")
    return tuple(float(s) for s in sigmas)


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


# -- any keypoint set --------------------------------------------------------------------------
_SIDE_PATTERNS = (("left_", "right_"), ("l_", "r_"), ("_left", "_right"), ("_l", "_r"), ("left", "right"))


def flip_pairs_from_names(names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Left/right pairs found from the names: ``left_eye``/``right_eye``, ``l_ear``/``r_ear``,
    ``eye_left``/``eye_right``, ``knee_l``/``knee_r``, ``leftHand``/``rightHand`` (case-insensitive)."""
    lower = [n.lower() for n in names]
    index = {n: i for i, n in enumerate(lower)}
    pairs: list[tuple[int, int]] = []
    seen: set[int] = set()
    for i, name in enumerate(lower):
        if i in seen:
            continue
        for left, right in _SIDE_PATTERNS:
            twin = None
            if left.endswith("_") and name.startswith(left):
                twin = right + name[len(left):]
            elif left.startswith("_") and name.endswith(left):
                twin = name[: -len(left)] + right
            elif left == "left" and "left" in name:
                twin = name.replace("left", "right", 1)
            if twin is not None and twin in index and index[twin] not in seen:
                pairs.append((min(i, index[twin]), max(i, index[twin])))
                seen.update((i, index[twin]))
                break
    return tuple(sorted(pairs))


@dataclass(frozen=True)
class KeypointSet:
    """What a top-down pose model's joints are: names, left/right pairs, skeleton (0-based),
    OKS sigmas, the half-body groups and per-joint loss weights. Travels with models and
    checkpoints (:meth:`to_dict` / :meth:`from_dict`), so a checkpoint needs nothing else."""

    names: tuple[str, ...]
    sigmas: tuple[float, ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    upper_body_ids: tuple[int, ...] = ()
    joint_weights: tuple[float, ...] = ()
    category_id: int = PERSON_CATEGORY_ID
    name: str = "custom"

    def __post_init__(self) -> None:
        k = len(self.names)
        object.__setattr__(self, "sigmas", checked_sigmas(self.sigmas, self.names))
        flip_index(self.flip_pairs, k)
        object.__setattr__(self, "flip_pairs", tuple((int(a), int(b)) for a, b in self.flip_pairs))
        bad = [p for p in self.skeleton if not all(0 <= j < k for j in p)]
        if bad:
            raise ValueError(f"skeleton: keypoint pair {bad[0]} is outside 0..{k - 1}")
        if self.joint_weights and len(self.joint_weights) != k:
            raise ValueError(f"{k} keypoints but {len(self.joint_weights)} joint weights")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def flip_index(self) -> tuple[int, ...]:
        return tuple(flip_index(self.flip_pairs, self.num_joints))

    @property
    def lower_body_ids(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.num_joints) if i not in set(self.upper_body_ids))

    @property
    def limb_links(self) -> tuple[tuple[int, int], ...]:
        """The skeleton's links away from the head (neither end named with a head word: nose, eye, ear,
        neck, head, ...): the torso and the limbs, the parts that carry clothes, whose pixels give a
        person's look in video tracking (:mod:`hrseg.inference.appearance`)."""
        head = [bool(set(re.split(r"[^a-z]+", n.lower())) & _HEAD_WORDS) for n in self.names]
        return tuple((a, b) for a, b in self.skeleton if not (head[a] or head[b]))

    @property
    def weights(self) -> tuple[float, ...]:
        """Per-joint loss weights (all 1 unless the set gives them)."""
        return self.joint_weights or (1.0,) * self.num_joints

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "names": list(self.names), "sigmas": list(self.sigmas),
                "flip_pairs": [list(p) for p in self.flip_pairs], "skeleton": [list(p) for p in self.skeleton],
                "upper_body_ids": list(self.upper_body_ids), "joint_weights": list(self.joint_weights),
                "category_id": self.category_id}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "KeypointSet":
        """The set :meth:`to_dict` wrote (a checkpoint records it as ``data.keypoints``); one
        :class:`ConfigError` naming ``data.keypoints`` when it is not a valid set (a checkpoint
        trained before the sigmas and flip pairs were checked, a hand-edited config)."""
        try:
            return cls(names=tuple(d["names"]), sigmas=tuple(d["sigmas"]),
                       flip_pairs=tuple(d.get("flip_pairs") or ()),  # checked and made int pairs by the set
                       skeleton=tuple(tuple(int(j) for j in p) for p in d.get("skeleton") or ()),
                       upper_body_ids=tuple(int(i) for i in d.get("upper_body_ids") or ()),
                       joint_weights=tuple(float(w) for w in d.get("joint_weights") or ()),
                       category_id=int(d.get("category_id", PERSON_CATEGORY_ID)), name=str(d.get("name", "custom")))
        except (KeyError, TypeError, ValueError) as e:
            what = f"lacks {e}" if isinstance(e, KeyError) else str(e)
            raise ConfigError(f"data.keypoints (the keypoint set a checkpoint or config records): {what}") from None


COCO_PERSON = KeypointSet(
    names=KEYPOINT_NAMES, sigmas=OKS_SIGMAS, flip_pairs=FLIP_PAIRS,
    skeleton=tuple((a - 1, b - 1) for a, b in SKELETON), upper_body_ids=UPPER_BODY_IDS,
    joint_weights=JOINT_WEIGHTS, category_id=PERSON_CATEGORY_ID, name="coco_person")


_MPII_NAMES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
               "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
               "left_elbow", "left_wrist")
MPII_PERSON = KeypointSet(
    names=_MPII_NAMES,
    sigmas=(0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179,
            0.072, 0.062),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    skeleton=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11), (11, 10),
              (8, 13), (13, 14), (14, 15)),
    upper_body_ids=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    joint_weights=(1.5, 1.2, 1., 1., 1.2, 1.5, 1., 1., 1., 1., 1.5, 1.2, 1., 1., 1.2, 1.5),
    name="mpii_person")


def is_coco_person(names: Sequence[str]) -> bool:
    return tuple(names) == KEYPOINT_NAMES


def keypoint_set_from_category(category: Mapping[str, Any], sigmas: Sequence[float] | None = None,
                               flip_pairs: Sequence[Sequence[int]] | None = None) -> KeypointSet:
    """The :class:`KeypointSet` of a COCO keypoint category (``keypoints`` names, 1-based
    ``skeleton``). COCO's person keeps its official sigmas, pairs, half-body groups and joint
    weights unless ``sigmas`` / ``flip_pairs`` are given; any other set needs ``sigmas``
    (``data.sigmas``: OKS needs them and no default is right), and its flip pairs come from
    ``flip_pairs`` or from the names (``left_``/``right_``, ``l_``/``r_``, ...)."""
    names = tuple(str(n) for n in category.get("keypoints") or ())
    cat_id = int(category.get("id", PERSON_CATEGORY_ID))
    if is_coco_person(names) and sigmas is None and flip_pairs is None:
        return replace(COCO_PERSON, category_id=cat_id)
    if sigmas is None:
        if is_coco_person(names):
            sigmas = OKS_SIGMAS
        else:
            raise ValueError(f"data.sigmas: the keypoint set of category {category.get('name')!r} has "
                             f"{len(names)} keypoints ({', '.join(names[:4])}, ...) and no OKS sigmas are known "
                             f"for it; set data.sigmas to {len(names)} numbers (COCO's are 0.025-0.107)")
    sigmas = checked_sigmas(sigmas, names, "data.sigmas")
    k = len(names)
    skeleton = tuple((int(a) - 1, int(b) - 1) for a, b in category.get("skeleton") or ()
                     if 1 <= int(a) <= k and 1 <= int(b) <= k)
    if flip_pairs is not None:
        flip_index(flip_pairs, k, "data.flip_pairs")
    pairs = tuple(map(tuple, flip_pairs)) if flip_pairs is not None else flip_pairs_from_names(names)
    coco = is_coco_person(names)
    return KeypointSet(names=names, sigmas=sigmas, flip_pairs=pairs, skeleton=skeleton,
                       upper_body_ids=UPPER_BODY_IDS if coco else (), joint_weights=JOINT_WEIGHTS if coco else (),
                       category_id=cat_id, name="coco_person" if coco else str(category.get("name", "custom")))
