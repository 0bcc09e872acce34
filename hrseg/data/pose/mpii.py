"""MPII Human Pose as the official HRNet code and mmpose read it: the people of an annotation
file, and the ground truth of PCKh (the head boxes) from the benchmark's ``.mat`` file.

Annotation file (official ``annot/{train,valid}.json``, mmpose ``annotations/mpii_{train,val}.json``):
a JSON list, one entry per person::

    {"image": "015601864.jpg", "center": [594.0, 257.0], "scale": 3.021,
     "joints": [[620.0, 394.0], ...16], "joints_vis": [1, 1, ...16]}

in MATLAB's 1-based pixels, ``scale`` in units of 200 px (the person's height, roughly). The
official ``MPIIDataset._get_db`` makes a crop of it: the centre moved down ``15 * scale`` px "to
avoid cropping limbs", the scale padded by 1.25, centre and joints moved to 0-based pixels.
hrseg does the same and then widens the square box to the network input's aspect ratio, as
:func:`~hrseg.data.pose.transforms.box_to_center_scale` does for COCO's boxes (nothing changes
at the recipes' 256x256). A person whose centre is ``-1`` (MPII's test people without one)
cannot be cropped: dropped, with one warning. The test file (official ``annot/test.json``) has no
joints: its people are read without (``annotated`` False), to be predicted and written as the
official ``pred.mat`` (:func:`write_mpii_predictions`) for the benchmark, with no PCKh.

Ground truth (official ``annot/gt_valid.mat``, mmpose ``annotations/mpii_gt_val.mat``, read
with :func:`scipy.io.loadmat`): ``pos_gt_src`` (16, 2, N) joints, ``jnt_missing`` (16, N),
``headboxes_src`` (2, 2, N) and ``dataset_joints`` (the joint names), N people in the order of
the validation file. :func:`load_mpii_ground_truth` gives them person-first.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from hrseg.data.coco import is_numbers, load_json, require_fields, shown
from hrseg.data.pose.coco_keypoints import PersonInstance
from hrseg.data.pose.transforms import PIXEL_STD, box_to_center_scale
from hrseg.errors import DataError
from hrseg.utils.io import atomic_path
from hrseg.meta.keypoints import MPII_PERSON, KeypointSet

__all__ = ["MPII_JOINT_CODES", "MpiiGroundTruth", "MpiiKeypoints", "load_mpii_ground_truth",
           "write_mpii_ground_truth", "write_mpii_predictions"]

logger = logging.getLogger(__name__)

_FIELDS = ("image", "center", "scale", "joints", "joints_vis")
# The benchmark's own joint names (dataset_joints in gt_valid.mat), in MPII's order
MPII_JOINT_CODES = ("rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thrx", "neck", "head",
                    "rwri", "relb", "rsho", "lsho", "lelb", "lwri")


def _image_ids(names: Sequence[str]) -> dict[str, int]:
    """An id per image file: its number where every name is one (mmpose: ``015601864.jpg`` is
    15601864), else the order of first appearance."""
    stems = [Path(n).stem for n in dict.fromkeys(names)]
    if all(s.isdigit() for s in stems) and len(set(map(int, stems))) == len(stems):
        return {n: int(Path(n).stem) for n in dict.fromkeys(names)}
    return {n: i for i, n in enumerate(dict.fromkeys(names))}


class MpiiKeypoints:
    """An MPII annotation file and its image folder: the people to crop, as :class:`PersonInstance`
    (what :class:`~hrseg.data.pose.dataset.CocoPoseDataset` reads from a COCO file). ``input_size``
    (H, W) is the network input, whose aspect ratio the boxes take. ``img_ids`` keeps those images."""

    def __init__(self, ann_file: str | os.PathLike, image_dir: str | os.PathLike,
                 input_size: Sequence[int] = (256, 256), img_ids: Iterable[int] | None = None,
                 padding: float = 1.25) -> None:
        self.ann_file, self.image_dir = Path(ann_file), Path(image_dir)
        self.aspect_ratio = int(input_size[1]) / int(input_size[0])
        self.padding = padding
        people = load_json(self.ann_file, "MPII annotation")
        # the test file has no joints at all: people to predict, not to score
        first = people[0] if isinstance(people, list) and people else None  # anything else: _read says what
        self.annotated = not isinstance(first, dict) or "joints" in first
        self.people = self._read(people)
        self.num_joints = len(self.people[0]["joints"]) if self.annotated else MPII_PERSON.num_joints
        self.ids = _image_ids([p["image"] for p in self.people])
        self.num_images = len(self.ids)
        self.image_ids = sorted(self.ids.values()) if img_ids is None else sorted({int(i) for i in img_ids})
        unknown = sorted(set(self.image_ids) - set(self.ids.values()))
        if unknown:
            raise DataError(f"{self.ann_file}: image id(s) {unknown[:5]} not in this file")

    def _read(self, people: Any) -> list[dict]:
        where = str(self.ann_file)
        if not isinstance(people, list) or not people:
            raise DataError(f"{where}: expected MPII's annotation format, a JSON list of people "
                            "(image, center, scale, joints, joints_vis)")
        k = None if self.annotated else MPII_PERSON.num_joints
        for i, person in enumerate(people):
            require_fields(person, _FIELDS if self.annotated else _FIELDS[:3], self.ann_file, f"person {i}")
            if not self.annotated and "joints" in person:
                raise DataError(f"{where}: person {i} has joints where person 0 has none: a file is annotated "
                                "throughout (train, valid) or not at all (test)")
            joints, vis = (person["joints"], person["joints_vis"]) if self.annotated else ([[0, 0]] * k, [0] * k)
            k = len(joints) if k is None and isinstance(joints, list) else k
            ok = (isinstance(person["image"], str) and is_numbers(person["center"], 2)
                  and is_numbers([person["scale"]]) and person["scale"] > 0 and isinstance(joints, list)
                  and len(joints) == k and all(is_numbers(j, 2) for j in joints) and is_numbers(vis, k))
            if not ok:
                raise DataError(f"{where}: person {i} ({shown(person.get('image'))}) is not an MPII annotation: "
                                f"expected an image name, center [x, y], a positive scale and {k or 'K'} joints "
                                f"[x, y] with as many joints_vis (center {shown(person['center'])}, scale "
                                f"{shown(person['scale'])}, {len(joints) if isinstance(joints, list) else 'no'} "
                                f"joints, joints_vis {shown(vis, 30)})")
        return people

    def default_keypoints(self) -> KeypointSet:
        """MPII's 16 joints (another count needs its set given: ``data.keypoints``)."""
        if self.num_joints != MPII_PERSON.num_joints:
            raise DataError(f"{self.ann_file}: {self.num_joints} joints per person, not MPII's 16; "
                            "the keypoint set must be given")
        return MPII_PERSON

    def image_size(self, image_id: int) -> None:
        """The file records no image sizes (COCO's files do): nothing to check a decoded image against."""
        return None

    @staticmethod
    def person_box(person: dict) -> tuple[float, float, float, float]:
        """The square (x, y, w, h, 0-based pixels) the official crop of an annotated person pads: ``scale``
        x 200 px a side, about the centre moved down ``15 * scale`` (module docstring)."""
        side = float(person["scale"]) * PIXEL_STD
        cx, cy = float(person["center"][0]) - 1, float(person["center"][1]) + 15 * float(person["scale"]) - 1
        return cx - side / 2, cy - side / 2, side, side

    def gt_instances(self) -> list[PersonInstance]:
        """Every annotated person of the selected images, in the file's order (PCKh's order); the
        joints 0-based, ``joints_vis`` 1 for a labelled joint."""
        wanted, out, uncropped = set(self.image_ids), [], 0
        for index, person in enumerate(self.people):
            image_id = self.ids[person["image"]]
            if image_id not in wanted:
                continue
            if person["center"][0] == -1:
                uncropped += 1
                continue
            box = self.person_box(person)  # padded and widened to the input's aspect as COCO's boxes are
            center, scale = box_to_center_scale(*box, self.aspect_ratio, self.padding)
            joints, vis = np.zeros((self.num_joints, 2), np.float32), np.zeros(self.num_joints, np.float32)
            if self.annotated:
                joints = np.asarray(person["joints"], dtype=np.float32) - 1
                vis = (np.asarray(person["joints_vis"], dtype=np.float32) > 0).astype(np.float32)
            out.append(PersonInstance(image_id, self.image_dir / person["image"], center, scale, box, 1.0,
                                      joints, vis, ann_id=index))
        if uncropped:
            logger.warning("%s: %d person(s) without a centre (center -1) left out", self.ann_file, uncropped)
        return out

    def detection_instances(self, det_file: str | os.PathLike, image_thre: float = 0.0) -> list[PersonInstance]:
        raise DataError(f"{det_file}: MPII is evaluated on its annotated people (PCKh), not on detected boxes; "
                        "leave data.val.det_file unset")


@dataclass(frozen=True)
class MpiiGroundTruth:
    """PCKh's ground truth, person first: ``joints`` (N, K, 2) in MPII's 1-based pixels, ``visible``
    (N, K) bool, ``headboxes`` (N, 2, 2) (two corners, x y), ``joint_codes`` the benchmark's names."""

    joints: np.ndarray
    visible: np.ndarray
    headboxes: np.ndarray
    joint_codes: tuple[str, ...] = MPII_JOINT_CODES

    @property
    def num_people(self) -> int:
        return len(self.joints)

    def take(self, rows: np.ndarray) -> "MpiiGroundTruth":
        """The people of ``rows`` (their places in the annotation file), in that order."""
        return MpiiGroundTruth(self.joints[rows], self.visible[rows], self.headboxes[rows], self.joint_codes)


def load_mpii_ground_truth(path: str | os.PathLike) -> MpiiGroundTruth:
    """The ``.mat`` ground truth of the official evaluation (module docstring); one
    :class:`DataError` naming the file when it is not one."""
    from scipy.io import loadmat  # 0.15 s to import, off the default path: MPII evaluation only

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: MPII ground-truth file (gt_valid.mat, mpii_gt_val.mat) not found")
    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises ValueError, TypeError, OSError, MatReadError... for a bad file
        raise DataError(f"{path}: not a MATLAB .mat file ({type(e).__name__}: {e})") from None
    missing = [k for k in ("pos_gt_src", "jnt_missing", "headboxes_src") if k not in mat]
    if missing:
        raise DataError(f"{path}: lacks {', '.join(missing)}; expected MPII's gt_valid.mat "
                        "(pos_gt_src, jnt_missing, headboxes_src, dataset_joints)")
    joints = np.asarray(mat["pos_gt_src"], dtype=np.float64)
    missing_joints = np.asarray(mat["jnt_missing"])
    boxes = np.asarray(mat["headboxes_src"], dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1] != 2 or missing_joints.shape != (joints.shape[0], joints.shape[2]) \
            or boxes.shape != (2, 2, joints.shape[2]):
        raise DataError(f"{path}: pos_gt_src {joints.shape}, jnt_missing {missing_joints.shape} and headboxes_src "
                        f"{boxes.shape} do not fit: expected (K, 2, N), (K, N) and (2, 2, N)")
    codes = MPII_JOINT_CODES
    if "dataset_joints" in mat:
        codes = tuple(str(np.asarray(c).ravel()[0]) for c in np.asarray(mat["dataset_joints"]).ravel())
    return MpiiGroundTruth(joints.transpose(2, 0, 1), missing_joints.T == 0, boxes.transpose(2, 0, 1), codes)


def write_mpii_ground_truth(path: str | os.PathLike, joints: np.ndarray, visible: np.ndarray,
                            headboxes: np.ndarray) -> Path:
    """Write PCKh's ground truth as the official ``gt_valid.mat`` lays it out (joint-first arrays, the
    benchmark's joint names as a 1 x 16 cell), atomically: ``joints`` (N, 16, 2) 1-based, ``visible``
    (N, 16), ``headboxes`` (N, 2, 2)."""
    from scipy.io import savemat  # 0.15 s to import, off the default path: MPII files only

    names = np.empty((1, len(MPII_JOINT_CODES)), dtype=object)
    for i, code in enumerate(MPII_JOINT_CODES):
        names[0, i] = np.array([code])
    visible = np.asarray(visible, dtype=bool)
    with atomic_path(path) as tmp:
        savemat(tmp, {"dataset_joints": names, "jnt_missing": (~visible).T.astype(np.uint8),
                      "pos_gt_src": np.asarray(joints, dtype=np.float64).transpose(1, 2, 0),
                      "headboxes_src": np.asarray(headboxes, dtype=np.float64).transpose(1, 2, 0)})
    return Path(path)


def write_mpii_predictions(path: str | os.PathLike, preds: np.ndarray, rows: np.ndarray, num_people: int) -> Path:
    """The official ``pred.mat`` layout (``MPIIDataset.evaluate``: ``preds`` (N, K, 2) in MATLAB's 1-based
    pixels, a row per person of the annotation file, in its order), written atomically from ``preds``
    (M, K, 2+) 0-based image pixels of the people at file ``rows``; a person not predicted (no centre, an
    image left out) keeps zeros."""
    from scipy.io import savemat  # 0.15 s to import, off the default path: MPII files only

    preds = np.asarray(preds, dtype=np.float64)
    out = np.zeros((num_people, preds.shape[1], 2))
    out[np.asarray(rows, dtype=np.int64)] = preds[..., :2] + 1.0
    with atomic_path(path) as tmp:
        savemat(tmp, {"preds": out})
    return Path(path)
