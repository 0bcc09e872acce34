"""An object's look, for giving people who leave the picture (or are hidden) their id again.

A motion-only tracker (ByteTrack, BoT-SORT without re-identification) gives a person who walks
out of the frame and comes back, or who is hidden for longer than its motion model can follow,
a new id. The tracker's glue (:mod:`hrseg.inference.tracking`) keeps each id's look and, when the
library starts a track, hands it the id of a recently lost track of the same label that looks
the same. The look is a colour histogram (hue x saturation, and value, in HSV) of the object's
pixels: for a person with keypoints, the pixels along the skeleton's limbs and torso (clothes,
not the background between the legs); otherwise the middle of the box. Histograms are compared
with the Bhattacharyya coefficient (1: the same distribution). No network: a lightweight cue that
costs well under a millisecond per person on a CPU.

A track's remembered look is averaged over its clean boxes only (:meth:`FrameLooks.clean`: IoU
with every other box at most 0.3, and not cut by the frame's edge): a half-hidden person's box
holds the person in front, and a box cut by the edge holds part of the person. The tracker
uses looks three ways: to give a lost id back (relinking), to give ids back after a
crossing, and to refuse a match by motion between a track and a clean detection that looks
unlike it (``TrackerConfig.look_gate``).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from hrseg.meta.keypoints import COCO_PERSON

__all__ = ["SKELETON_PARTS", "FrameLooks", "appearance", "box_iou", "similarities", "similarity"]

HUE_BINS, SAT_BINS, VAL_BINS = 16, 4, 4
# COCO's joints joined by the body parts that carry clothes (torso, arms, legs): the links a look is drawn
# along when no keypoint set says otherwise
SKELETON_PARTS = COCO_PERSON.limb_links


def _mask(shape: tuple[int, int], box: np.ndarray, keypoints: np.ndarray | None, kpt_thr: float,
          limbs: Sequence[Sequence[int]] | None) -> np.ndarray:
    h, w = shape
    x0, y0, x1, y1 = box
    mask = np.zeros((h, w), np.uint8)
    if limbs is None and keypoints is not None and len(keypoints) == COCO_PERSON.num_joints:
        limbs = SKELETON_PARTS
    if keypoints is not None and limbs:
        thickness = max(2, int(round(0.06 * (y1 - y0))))
        for a, b in limbs:
            if keypoints[a, 2] >= kpt_thr and keypoints[b, 2] >= kpt_thr:
                cv2.line(mask, tuple(int(v) for v in keypoints[a, :2]), tuple(int(v) for v in keypoints[b, :2]),
                         255, thickness)
        if mask.any():
            return mask
    bw, bh = x1 - x0, y1 - y0
    cv2.rectangle(mask, (int(x0 + 0.3 * bw), int(y0 + 0.15 * bh)), (int(x1 - 0.3 * bw), int(y1 - 0.15 * bh)), 255, -1)
    return mask


def appearance(image: np.ndarray, box_xyxy: Sequence[float], keypoints: np.ndarray | None = None,
               kpt_thr: float = 0.3, limbs: Sequence[Sequence[int]] | None = None) -> np.ndarray | None:
    """The normalised HSV histogram (a vector summing to 1) of an object's pixels in an RGB
    ``image``; None when the box holds too few pixels to say. With ``keypoints`` (K, 3) the pixels
    along ``limbs`` (pairs of joints: the keypoint set's ``limb_links``; None: COCO's for 17 keypoints)
    whose joints both score ``kpt_thr``, else the middle of the box."""
    h, w = image.shape[:2]
    box = np.clip(np.asarray(box_xyxy[:4], np.float64), 0, [w, h, w, h])
    x0, y0, x1, y1 = int(box[0]), int(box[1]), int(np.ceil(box[2])), int(np.ceil(box[3]))
    if x1 - x0 < 4 or y1 - y0 < 8:
        return None
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    kpts = None if keypoints is None else keypoints - np.array([x0, y0, 0.0])
    mask = _mask(crop.shape[:2], box - np.array([x0, y0, x0, y0]), kpts, kpt_thr, limbs)
    if int(np.count_nonzero(mask)) < 16:
        return None
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    hs = cv2.calcHist([hsv], [0, 1], mask, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], mask, [VAL_BINS], [0, 256]).ravel()
    hist = np.concatenate([hs, v]).astype(np.float64)
    return hist / hist.sum()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The Bhattacharyya coefficient of two histograms from :func:`appearance`, in [0, 1] (the
    hue-saturation and the value histogram weigh half each: each sums to 0.5)."""
    return float(similarities([a], [b])[0, 0])


def similarities(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`similarity` of each of ``a`` with each of ``b``: an (len(a), len(b)) array."""
    return np.sqrt(np.stack(a)) @ np.sqrt(np.stack(b)).T


class FrameLooks:
    """One frame's detections' looks, each computed once, when first asked for."""

    def __init__(self, frame: np.ndarray | None, boxes_xyxy: np.ndarray, keypoints: Sequence[np.ndarray | None],
                 kpt_thr: float = 0.3, overlap: float = 0.3, limbs: Sequence[Sequence[int]] | None = None) -> None:
        self.frame, self.boxes, self.keypoints, self.kpt_thr = frame, boxes_xyxy, keypoints, kpt_thr
        self.limbs = limbs  # the keypoint set's limb_links (appearance)
        self.overlap = overlap  # the IoU with another box above which a box is not clean
        self._looks: dict[int, np.ndarray | None] = {}
        self._clean: dict[int, bool] = {}

    def of(self, i: int) -> np.ndarray | None:
        """Detection ``i``'s look (None without the frame, or too few pixels)."""
        if self.frame is None:
            return None
        if i not in self._looks:
            self._looks[i] = appearance(self.frame, self.boxes[i], self.keypoints[i], self.kpt_thr, self.limbs)
        return self._looks[i]

    def clean(self, i: int) -> bool:
        """Whether detection ``i``'s box overlaps no other by more than IoU ``overlap`` (0.3: chosen
        on the tuning sequences of docs/video.md over 0.1 and 0.5) and is not cut by the frame's
        edge (within a pixel of it: part of the person is outside)."""
        if i not in self._clean:
            others = np.delete(self.boxes, i, axis=0)
            h, w = self.frame.shape[:2] if self.frame is not None else (np.inf, np.inf)
            x0, y0, x1, y1 = self.boxes[i]
            cut = x0 <= 1 or y0 <= 1 or x1 >= w - 1 or y1 >= h - 1
            self._clean[i] = not cut and not (len(others) and float(box_iou(self.boxes[i], others).max()) > self.overlap)
        return self._clean[i]

    def clean_look(self, i: int) -> np.ndarray | None:
        """Detection ``i``'s look if its box is clean, else None."""
        return self.of(i) if self.clean(i) else None

    def updated(self, i: int, old: np.ndarray | None, momentum: float = 0.2) -> np.ndarray | None:
        """A track's remembered look ``old`` after this frame's detection ``i`` (a running
        average of clean looks; unchanged by a box that is not clean)."""
        look = self.clean_look(i)
        if look is None or old is None:
            return look if look is not None else old
        return (1 - momentum) * old + momentum * look


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes`` (N, 4)."""
    lt, rb = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)
