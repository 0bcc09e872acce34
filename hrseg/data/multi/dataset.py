"""The multi-task dataset: one image, every label it has, for :mod:`hrseg.models.multitask`.

Sources, each optional but the first: a COCO instances file (boxes, classes, polygon / RLE
masks: :class:`~hrseg.data.det.coco_instances.CocoInstances`), a COCO person_keypoints file
(the same file or another with the same annotation ids, as COCO's two files are; keypoints are
taken for the keypoint category, person, only) and a folder of semantic label maps
(``<image file stem>.png``, class ids, 255 ignored).

A sample is ``(image, target)`` as :class:`~hrseg.data.det.dataset.CocoDetection` gives, the
target also holding, for the heads asked for:

- ``masks`` (N, H, W) uint8 and ``has_masks``: False (masks all zero) when an instance of the
  image has no ``segmentation``, so the model leaves the image out of the mask loss;
- ``keypoints`` (N, K, 3) float (x, y, v) and ``has_keypoints``: False when the image is not
  in the keypoint file; instances of other classes, people without keypoints and labelled
  points outside the image have v=0, which the loss ignores;
- ``semantic`` (H, W) int64, all 255 when the image has no label map.

Training flips horizontally with ``flip_prob`` (boxes, masks, label map, and keypoints with
their left/right pairs swapped), drawn from ``numpy.random.default_rng([seed, epoch, index])``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from pycocotools.coco import COCO

from hrseg.data.common import SkippedSample
from hrseg.data.det.coco_instances import CocoInstances, _clip_xyxy
from hrseg.data.det.dataset import CocoDetection, to_tensor
from hrseg.data.pose.transforms import fliplr_joints
from hrseg.data.seg.datasets import read_label
from hrseg.errors import DataError
from hrseg.meta.classes import IGNORE_INDEX
from hrseg.meta.keypoints import FLIP_PAIRS

__all__ = ["MultiTaskDataset"]


class MultiTaskDataset(CocoDetection):
    """See the module docstring. ``keypoints`` is the loaded person_keypoints ``COCO`` (None: no
    keypoint labels), ``semantic_dir`` the label-map folder (None: none); ``heads`` names the
    targets to build (``masks``, ``keypoints``, ``segmentation``)."""

    every_instance_masked = False  # an image with an unmasked instance trains the other heads (module docstring)

    def __init__(self, instances: CocoInstances, img_dir: str | os.PathLike, keypoints: COCO | None = None,
                 semantic_dir: str | os.PathLike | None = None, heads: Sequence[str] = ("masks", "keypoints",
                                                                                          "segmentation"),
                 num_joints: int = 17, flip_pairs: Sequence[Sequence[int]] = FLIP_PAIRS, train: bool = False,
                 flip_prob: float = 0.5, seed: int = 0) -> None:
        super().__init__(instances, img_dir, train=train, seed=seed, masks="masks" in heads)
        self.keypoint_coco = keypoints
        self.semantic_dir = Path(semantic_dir) if semantic_dir is not None else None
        if self.semantic_dir is not None and not self.semantic_dir.is_dir():
            raise DataError(f"{self.semantic_dir}: not a folder (the semantic label maps, <image stem>.png)")
        self.heads = tuple(heads)
        self.num_joints, self.flip_pairs = int(num_joints), [tuple(p) for p in flip_pairs]
        self.flip_prob = float(flip_prob) if train else 0.0
        kp_cats = {c["id"] for c in keypoints.dataset["categories"] if c.get("keypoints")} if keypoints else set()
        self.keypoint_cat_ids = kp_cats

    def semantic_path(self, image_id: int) -> Path | None:
        if self.semantic_dir is None:
            return None
        return self.semantic_dir / (Path(self.instances.coco.imgs[image_id]["file_name"]).stem + ".png")

    def read_semantic(self, image_id: int, shape: tuple[int, int]) -> np.ndarray:
        """The label map of ``image_id`` (all 255 without one); a size other than the image's is a
        :class:`DataError` naming the file."""
        path = self.semantic_path(image_id)
        if path is None or not path.is_file():
            return np.full(shape, IGNORE_INDEX, np.int64)
        label = read_label(path).astype(np.int64)
        if label.shape != shape:
            raise DataError(f"{path}: label map is {label.shape[1]}x{label.shape[0]}, its image "
                            f"{shape[1]}x{shape[0]}")
        return label

    def _kept_annotations(self, image_id: int) -> list[dict[str, Any]]:
        """The annotations :meth:`CocoInstances.targets` keeps, in its order."""
        img = self.instances.coco.imgs[image_id]
        return [a for a in self.instances.coco.imgToAnns.get(image_id, []) if not a.get("iscrowd", 0)
                and _clip_xyxy(a["bbox"], img["width"], img["height"]) is not None]

    def _keypoints(self, anns: list[dict[str, Any]], image_id: int, width: int, height: int) -> tuple[np.ndarray, bool]:
        out = np.zeros((len(anns), self.num_joints, 3), np.float32)
        coco = self.keypoint_coco
        if coco is None or image_id not in coco.imgs:
            return out, False
        for i, ann in enumerate(anns):
            record = coco.anns.get(ann["id"])
            if record is None or record["category_id"] not in self.keypoint_cat_ids:
                continue
            kps = np.asarray(record["keypoints"], np.float32).reshape(-1, 3)
            inside = (kps[:, 0] >= 0) & (kps[:, 1] >= 0) & (kps[:, 0] < width) & (kps[:, 1] < height)
            out[i, :, :2] = kps[:, :2]
            out[i, :, 2] = np.where((kps[:, 2] > 0) & inside, 1.0, 0.0)
        return out, True

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]] | SkippedSample:
        image_id = self.image_ids[index]
        try:
            image = self.read(image_id)
            semantic = self.read_semantic(image_id, image.shape[:2]) if "segmentation" in self.heads else None
        except DataError as e:
            if not self.train:
                raise
            return self._skip(image_id, e)
        h, w = image.shape[:2]
        anns = self._kept_annotations(image_id)
        has_masks = "masks" in self.heads and all(a.get("segmentation") for a in anns)
        t = self.instances.targets(image_id, masks=has_masks)
        boxes = t.boxes.copy()
        masks = t.masks if has_masks else np.zeros((len(boxes), h, w), np.uint8)
        keypoints, has_keypoints = self._keypoints(anns, image_id, w, h)
        if self.flip_prob > 0 and np.random.default_rng([self.seed, self.epoch, index]).random() < self.flip_prob:
            image, masks = image[:, ::-1], masks[:, :, ::-1]
            boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
            semantic = semantic[:, ::-1] if semantic is not None else None
            for kp in keypoints:  # in the boxes' continuous coordinates, as the masks' pixels
                kp[:, :2], kp[:, 2] = fliplr_joints(kp[:, :2], kp[:, 2], w, self.flip_pairs, continuous=True)
        target = {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(t.labels),
                  "image_id": torch.tensor(image_id, dtype=torch.int64)}
        if "masks" in self.heads:
            target["masks"] = torch.from_numpy(np.ascontiguousarray(masks))
            target["has_masks"] = torch.tensor(has_masks)
        if "keypoints" in self.heads:
            target["keypoints"] = torch.from_numpy(keypoints)
            target["has_keypoints"] = torch.tensor(has_keypoints)
        if semantic is not None:
            target["semantic"] = torch.from_numpy(np.ascontiguousarray(semantic))
        return to_tensor(np.ascontiguousarray(image)), target
