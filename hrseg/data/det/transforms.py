"""Training augmentation for box detection: the image and its boxes change together.

Through albumentations (boxes in ``pascal_voc`` = xyxy pixels): an optional zoom in / out on
the same canvas (``scale_range``, an affine scale about the centre keeping the aspect ratio:
boxes are scaled with the pixels, clipped to the canvas, and dropped when less than
``min_visibility`` of them stays visible), a horizontal flip (the official recipe's only
augmentation, probability 0.5) and optional photometric distortion (mmdetection's
``PhotoMetricDistortion`` ranges). Resizing to the network's input size is the detector's own
step (torchvision's ``min_size`` / ``max_size``, which maps the boxes back afterwards); a tuple
of ``min_size`` values there is the multi-scale training of mmdetection's ``ms`` configs.

Every random draw comes from the ``numpy.random.Generator`` passed in, so a seed fixes a sample.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

__all__ = ["DetAugment"]


def photometric_steps() -> list[Any]:
    """mmdetection's ``PhotoMetricDistortion`` ranges as albumentations steps, each with probability 0.5:
    brightness +-32, contrast x[0.5, 1.5], saturation x[0.5, 1.5], hue +-18 (OpenCV units); not its order or
    its random channel swap. The boxes ride through the same albumentations pipeline."""
    import albumentations as A  # imported on first use: it is slow to import

    return [A.RandomBrightnessContrast(brightness_limit=32 / 255, contrast_limit=0.0, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.5, p=0.5),
            A.ColorJitter(brightness=0.0, contrast=0.0, saturation=0.5, hue=0.0, p=0.5),
            A.ColorJitter(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.1, p=0.5)]


@dataclass
class DetAugment:
    """``augment(image, boxes, labels, rng) -> (image, boxes, labels)`` on a uint8 RGB image,
    (N, 4) float xyxy boxes and (N,) labels; boxes leaving the image are dropped with their label.

    With ``masks=`` (N, H, W) uint8 instance masks the result has a fourth item, the masks moved
    by the same flip and zoom (nearest-neighbour) and dropped with their boxes; with ``semantic=`` an
    (H, W) uint8 label map (HTC's COCO-Stuff labels, 255 unlabelled) one more, moved the same way,
    the zoom's new border 255."""

    flip_prob: float = 0.5
    scale_range: Sequence[float] | None = None  # e.g. (0.75, 1.25); None: no zoom
    photometric: bool = False
    min_visibility: float = 0.3
    _pipeline: Any = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers rebuild the pipeline
        return {**self.__dict__, "_pipeline": None}

    def pipeline(self) -> Any:
        if self._pipeline is None:
            import albumentations as A  # imported on first use: it is slow to import

            steps: list[Any] = []
            if self.scale_range is not None:
                lo, hi = (float(s) for s in self.scale_range)
                steps.append(A.Affine(scale=(lo, hi), keep_ratio=True, border_mode=cv2.BORDER_CONSTANT,
                                      fill=0, p=1.0))
            if self.flip_prob > 0:
                steps.append(A.HorizontalFlip(p=self.flip_prob))
            if self.photometric:
                steps.extend(photometric_steps())
            self._pipeline = A.Compose(steps, bbox_params=A.BboxParams(
                format="pascal_voc", label_fields=["labels", "index"], min_visibility=self.min_visibility,
                clip=True, filter_invalid_bboxes=True))
        return self._pipeline

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                 masks: np.ndarray | None = None, semantic: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        labels = np.asarray(labels, np.int64)
        if not (self.flip_prob > 0 or self.scale_range is not None or self.photometric):
            return (image, boxes, labels) + tuple(m for m in (masks, semantic) if m is not None)
        pipeline = self.pipeline()
        pipeline.set_random_seed(int(rng.integers(2**31 - 1)))
        extra = {"masks": np.asarray(masks, np.uint8)} if masks is not None and len(masks) else {}
        if semantic is not None:  # shifted by one, so that the zoom's zero border comes back as 255
            extra["mask"] = np.asarray(semantic, np.uint8) + np.uint8(1)
        out = pipeline(image=image, bboxes=boxes, labels=labels, index=np.arange(len(boxes)), **extra)
        boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
        labels = np.asarray(out["labels"], np.int64).reshape(-1)
        keep = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        result = (np.ascontiguousarray(out["image"]), boxes[keep], labels[keep])
        if masks is not None:
            index = np.asarray(out["index"], np.int64).reshape(-1)[keep]
            moved = np.asarray(out["masks"], np.uint8) if len(masks) else np.zeros((0,) + image.shape[:2], np.uint8)
            result += (np.ascontiguousarray(moved[index]).reshape((-1,) + result[0].shape[:2]),)
        if semantic is not None:
            result += (np.ascontiguousarray(np.asarray(out["mask"], np.uint8) - np.uint8(1)),)
        return result
