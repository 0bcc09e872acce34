"""COCO box-detection dataset for torchvision's detectors: ``(image, target)`` per image.

``image`` is a (3, H, W) float tensor in [0, 1] at the file's size (the detector normalises and
resizes it); ``target`` is ``{'boxes': (N, 4) float xyxy, 'labels': (N,) int64 1..K,
'image_id': int64}``, plus ``'masks'`` (N, H, W) uint8 with ``masks=True`` (see
:mod:`hrseg.data.det.coco_instances` for the label and box rules) and ``'semantic'`` (H, W) uint8
with ``semantic_dir`` (HTC's COCO-Stuff labels: ``<semantic_dir>/<image file stem>.png``, mmdetection's
``seg_prefix``, 255 unlabelled; training only).
:func:`det_collate` makes ``{'image_id': (B,) tensor, 'images': [...], 'targets': [...]}``, the
lists torchvision's detectors take.

Bad images: in training a missing or corrupt image, or one whose decoded size is not the
annotation file's, is skipped (one warning per file and process; ``num_skipped`` counts them
across DataLoader workers for the engine's epoch summary); in evaluation it raises
:class:`DataError`, and :meth:`CocoDetection.check_files` finds missing files before any work.
"""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from hrseg.data.coco import check_image_files
from hrseg.data.det.coco_instances import CocoInstances
from hrseg.data.det.transforms import DetAugment
from hrseg.data.seg.datasets import read_label
from hrseg.utils.image import to_tensor  # noqa: F401  (re-exported: the detectors' input)
from hrseg.utils.image_io import read_image
from hrseg.data.common import SkippedSample, skip_sample
from hrseg.errors import DataError

__all__ = ["CocoDetection", "det_collate", "to_tensor"]


class CocoDetection(Dataset):
    """The images of ``instances`` (all, or ``img_ids``) under ``img_dir``; ``train`` turns on
    ``augment`` and skipping of unreadable images. Augmentation draws from
    ``numpy.random.default_rng([seed, epoch, index])``; :meth:`set_epoch` moves to the next epoch."""

    every_instance_masked: ClassVar[bool] = True  # a mask model trains on every instance's mask

    def __init__(self, instances: CocoInstances, img_dir: str | os.PathLike, train: bool = False,
                 augment: DetAugment | None = None, img_ids: Iterable[int] | None = None, seed: int = 0,
                 masks: bool = False, semantic_dir: str | os.PathLike | None = None) -> None:
        self.instances = instances
        self.masks = masks  # targets carry 'masks' (N, H, W) uint8, for Mask R-CNN
        self.semantic_dir = semantic_dir  # targets carry 'semantic' (H, W) uint8, for HTC
        self.img_dir = img_dir
        self.train = train
        self.augment = augment if train else None
        self.image_ids = [int(i) for i in img_ids] if img_ids is not None else list(instances.image_ids)
        instances.check_boxes(self.image_ids, train)  # training: no box at all is an error; val: a warning
        if masks and train and self.every_instance_masked:  # said now, not when that image is first trained on
            unmasked = next((a["id"] for i in self.image_ids for a in instances.coco.imgToAnns.get(i, [])
                             if not a.get("iscrowd") and a.get("segmentation") in (None, [])), None)
            if unmasked is not None:
                raise DataError(f"{instances.ann_file}: annotation id {unmasked} has no segmentation (masks are "
                                "needed for a mask model)")
        self.seed, self.epoch = int(seed), 0
        self.num_skipped = multiprocessing.Value("l", 0)  # shared with DataLoader workers

    def __len__(self) -> int:
        return len(self.image_ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def check_files(self) -> None:
        """Raise one :class:`DataError` listing missing image files (evaluation runs this first)."""
        check_image_files((self.instances.image_file(i, self.img_dir) for i in self.image_ids),
                          self.instances.ann_file)

    def read(self, image_id: int) -> np.ndarray:
        """The image of ``image_id`` as stored (no EXIF rotation: the boxes refer to the stored
        pixels); a size other than the annotation file's is a :class:`DataError`."""
        path = self.instances.image_file(image_id, self.img_dir)
        image = read_image(path, apply_exif=False)
        record = self.instances.coco.imgs[image_id]
        if image.shape[:2] != (record["height"], record["width"]):
            raise DataError(f"{path}: decoded as {image.shape[1]}x{image.shape[0]}, but "
                            f"{self.instances.ann_file.name} says {record['width']}x{record['height']}")
        return image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]] | SkippedSample:
        image_id = self.image_ids[index]
        try:
            image = self.read(image_id)
            semantic = self.read_semantic(image_id, image.shape[:2]) if self.semantic_dir is not None else None
        except DataError as e:
            if not self.train:
                raise
            return self._skip(image_id, e)
        t = self.instances.targets(image_id, masks=self.masks)
        boxes, labels, masks = t.boxes, t.labels, t.masks
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image, boxes, labels, *moved = self.augment(image, boxes, labels, rng, masks=masks, semantic=semantic)
            masks = moved.pop(0) if masks is not None else None
            semantic = moved.pop(0) if semantic is not None else None
        target = {"boxes": torch.from_numpy(np.asarray(boxes, np.float32).reshape(-1, 4)),
                  "labels": torch.from_numpy(np.asarray(labels, np.int64)),
                  "image_id": torch.tensor(image_id, dtype=torch.int64)}
        if masks is not None:
            target["masks"] = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.uint8))
        if semantic is not None:
            target["semantic"] = torch.from_numpy(np.ascontiguousarray(semantic, dtype=np.uint8))
        return to_tensor(image), target

    def read_semantic(self, image_id: int, size: tuple[int, int]) -> np.ndarray:
        """The COCO-Stuff label map of ``image_id`` (its image file's stem + ``.png`` under ``semantic_dir``):
        one channel of values 0-255, the image's size, else a :class:`DataError` naming the file."""
        path = Path(self.semantic_dir) / (Path(self.instances.coco.imgs[image_id]["file_name"]).stem + ".png")
        labels = read_label(path)
        if labels.shape != tuple(size) or labels.max(initial=0) > 255:
            raise DataError(f"{path}: a {labels.shape[1]}x{labels.shape[0]} label map of values up to "
                            f"{labels.max(initial=0)}, where its image is {size[1]}x{size[0]} and labels are 0-255")
        return labels.astype(np.uint8)

    def _skip(self, image_id: int, error: DataError) -> SkippedSample:
        return skip_sample(self.num_skipped, str(self.instances.image_file(image_id, self.img_dir)), error)


def det_collate(batch: Sequence[Any]) -> dict[str, Any] | None:
    """Lists of images and targets without the skipped samples; None when all were skipped."""
    kept = [s for s in batch if not isinstance(s, SkippedSample)]
    if not kept:
        return None
    images, targets = zip(*kept)
    return {"image_id": torch.stack([t["image_id"] for t in targets]), "images": list(images),
            "targets": list(targets)}
