"""Synthetic MPII-format splits: the synthetic figures drawn with MPII's 16 joints, written as MPII's
files (``annot/train.json``, ``annot/valid.json``, ``annot/gt_valid.mat``), so MPII's recipes, its
data adapter and PCKh run on this machine and in CI (``data.format="mpii"`` with ``data.synthetic``).

The figures (:mod:`hrseg.data.synthetic.pose`, with ``keypoints=MPII_PERSON``) have no thorax,
upper neck or head top of their own: the thorax and the upper neck are read from the neck, the head
top from the head's centre (:data:`MPII_SOURCES`). A person's MPII entry is made from its COCO
annotation: ``scale`` the box's longer side / 200 and ``center`` placed so that the official crop
(``center + 15 * scale`` down, 1-based to 0-based, scale x 1.25) is centred on the box, joints
1-based. MPII's head boxes are drawn by its annotators; here a stand-in, a square about the head
top whose side is a quarter of the box's longer side (PCKh's threshold is then about 0.1 of the box).

Layout under ``root``: the COCO-format split (``images/{train,val}/``, ``annotations/``,
``COMPLETE.json``) and ``annot/`` beside it, written (atomically) when missing or not the split's.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hrseg.data.pose.mpii import write_mpii_ground_truth
from hrseg.data.synthetic.generate import to_stderr
from hrseg.data.synthetic.pose import dataset_paths, ensure_synthetic_pose, generate_synthetic_pose
from hrseg.meta.keypoints import MPII_PERSON
from hrseg.utils.io import write_json

__all__ = ["MPII_SOURCES", "ensure_synthetic_mpii", "generate_synthetic_mpii", "mpii_paths", "mpii_people",
           "write_mpii_files"]

MPII_SOURCES = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "neck",
                "neck", "head", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
                "left_wrist")
_ANNOT = {"train": "train", "val": "valid"}
_HEAD_TOP = MPII_PERSON.names.index("head_top")


def mpii_paths(root: str | os.PathLike, split: str) -> dict[str, Path]:
    """A split's MPII annotation file, its images folder and (val) the ground truth of PCKh."""
    r = Path(root)
    return {"ann_file": r / "annot" / f"{_ANNOT[split]}.json", "img_dir": dataset_paths(r, split)["images"],
            "gt_file": r / "annot" / f"gt_{_ANNOT[split]}.mat"}


def mpii_people(coco: dict[str, Any]) -> tuple[list[dict], np.ndarray]:
    """MPII entries of a COCO person_keypoints file's people with labelled joints (module docstring), and
    their head boxes (N, 2, 2), 1-based."""
    files = {img["id"]: img["file_name"] for img in coco["images"]}
    people, boxes = [], []
    for ann in coco["annotations"]:
        kpts = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        if kpts[:, 2].max() == 0:
            continue
        x, y, w, h = ann["bbox"]
        scale = max(w, h) / 200
        people.append({"image": files[ann["image_id"]], "center": [x + w / 2 + 1, y + h / 2 - 15 * scale + 1],
                       "scale": scale, "joints": (kpts[:, :2] + 1).tolist(),
                       "joints_vis": (kpts[:, 2] > 0).astype(int).tolist()})
        half = max(w, h) / 8
        boxes.append([kpts[_HEAD_TOP, :2] + 1 - half, kpts[_HEAD_TOP, :2] + 1 + half])
    return people, np.asarray(boxes, dtype=np.float64).reshape(-1, 2, 2)


def _holds(path: Path, people: list[dict]) -> bool:
    try:
        return json.loads(path.read_text()) == people
    except (OSError, ValueError):
        return False


def write_mpii_files(root: str | os.PathLike) -> None:
    """MPII's files of the split with MPII's joints under ``root`` (module docstring); files that already hold
    what they would be written with are left alone."""
    for split in ("train", "val"):
        people, headboxes = mpii_people(json.loads(dataset_paths(root, split)["person_keypoints"].read_text()))
        paths = mpii_paths(root, split)
        if _holds(paths["ann_file"], people) and (split == "train" or paths["gt_file"].is_file()):
            continue
        write_json(paths["ann_file"], people, indent=None)
        if split == "val":
            write_mpii_ground_truth(paths["gt_file"], np.asarray([p["joints"] for p in people], dtype=np.float64),
                                    np.asarray([p["joints_vis"] for p in people]) > 0, headboxes)


def generate_synthetic_mpii(root: str | os.PathLike, num_train: int = 800, num_val: int = 100,
                            image_size: tuple[int, int] = (256, 256), seed: int = 0, *, jpeg_quality: int = 92,
                            progress_every: int = 100, log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """Write the synthetic split with MPII's joints under ``root`` and its MPII files (even if complete)."""
    return _with_mpii_files(generate_synthetic_pose, root, num_train, num_val, image_size, seed, jpeg_quality,
                            progress_every, log)


def ensure_synthetic_mpii(root: str | os.PathLike, num_train: int = 800, num_val: int = 100,
                          image_size: tuple[int, int] = (256, 256), seed: int = 0, *, jpeg_quality: int = 92,
                          progress_every: int = 100, log: Callable[[str], None] | None = to_stderr) -> dict[str, Any]:
    """The synthetic split with MPII's joints under ``root`` (generated unless complete) and its MPII files."""
    return _with_mpii_files(ensure_synthetic_pose, root, num_train, num_val, image_size, seed, jpeg_quality,
                            progress_every, log)


def _with_mpii_files(make: Callable[..., dict[str, Any]], root: str | os.PathLike, num_train: int, num_val: int,
                     image_size: tuple[int, int], seed: int, jpeg_quality: int, progress_every: int,
                     log: Callable[[str], None] | None) -> dict[str, Any]:
    summary = make(root, num_train, num_val, image_size, seed, jpeg_quality=jpeg_quality, keypoints=MPII_PERSON,
                   keypoint_sources=MPII_SOURCES, progress_every=progress_every, log=log)
    write_mpii_files(root)
    return summary
