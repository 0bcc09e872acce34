"""Top-down pose prediction: person boxes -> crops -> heatmaps -> keypoints in image pixels.

One path (:func:`predict_crops`: optional flip test, then the codec's decoding) serves the
evaluation during training, ``tools/test_pose.py`` and ``tools/infer_pose.py``, so the numbers
are the same wherever they are computed. All the crops of an image go through one forward;
:func:`estimate_poses_batched` also batches the crops of consecutive images (``infer_pose.py
--batch-size``), holding only the images whose crops fill the batch being formed.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hrseg.codecs.msra import HeatmapCodec
from hrseg.geometry import box_to_center_scale, warp_crop
from hrseg.inference.pose_postprocess import flip_test, oks_nms, rescore
from hrseg.meta.keypoints import KeypointSet
from hrseg.utils.image import normalize
from hrseg.utils.profile import StageTimer


@torch.no_grad()
def crop_heatmaps(model: nn.Module, images: torch.Tensor, keypoints: KeypointSet,
                  test_cfg: Mapping[str, Any], maps_per_joint: int = 1) -> torch.Tensor:
    """The heatmaps (N, K * maps_per_joint, h, w) of person crops (float32, CPU), flip-tested as
    ``test_cfg`` says."""
    if test_cfg["flip"]:
        heatmaps = flip_test(model, images, keypoints.flip_pairs, test_cfg["shift_heatmap"], maps_per_joint)
    else:
        heatmaps = model(images)
    return heatmaps.float().cpu()


def predict_crops(model: nn.Module, images: torch.Tensor, centers: np.ndarray, scales: np.ndarray,
                  codec: HeatmapCodec, keypoints: KeypointSet, test_cfg: Mapping[str, Any]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (N, K, 2) in image pixels and their heatmap maxima (N, K, 1) for person crops."""
    return codec.decode(crop_heatmaps(model, images, keypoints, test_cfg, codec.maps_per_joint), centers, scales)


def crop_people(image: np.ndarray, person_boxes: Iterable[Sequence[float]], codec: HeatmapCodec,
                min_score: float = 0.0) -> tuple[torch.Tensor, np.ndarray, np.ndarray, list[list[float]],
                                                 list[float], int]:
    """The normalised crops (N, 3, H, W) of the boxes ``[x, y, w, h, score]`` scoring at least
    ``min_score``, their centres, scales, boxes and scores, and how many boxes were too small
    (under 2 px a side) to crop."""
    h, w = codec.input_size
    crops, centers, scales, kept, scores, too_small = [], [], [], [], [], 0
    for x, y, bw, bh, score in person_boxes:
        if score < min_score:
            continue
        if bw <= 1 or bh <= 1:
            too_small += 1
            continue
        center, scale = box_to_center_scale(x, y, bw, bh, w / h)
        crops.append(normalize(warp_crop(image, codec.crop_transform(center, scale), (w, h))))
        centers.append(center)
        scales.append(scale)
        kept.append([float(x), float(y), float(bw), float(bh)])
        scores.append(float(score))
    images = torch.stack(crops) if crops else torch.zeros((0, 3, h, w))
    return images, np.array(centers).reshape(-1, 2), np.array(scales).reshape(-1, 2), kept, scores, too_small


def people_of(preds: np.ndarray, maxvals: np.ndarray, scales: np.ndarray, boxes: list[list[float]],
              scores: list[float], keypoints: KeypointSet, test_cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One image's people from its crops' keypoints: official rescoring and OKS-NMS."""
    if not len(preds):
        return []
    person_scores = rescore(maxvals, np.array(scores), test_cfg["vis_thr"])
    kpts = np.concatenate([preds, maxvals.reshape(len(preds), -1, 1)], axis=2)
    keep = (oks_nms(kpts, person_scores, np.prod(scales * 200, axis=1), test_cfg["oks_thr"], keypoints.sigmas)
            if test_cfg["oks_thr"] is not None else range(len(preds)))
    return [{"bbox": boxes[i], "box_score": scores[i], "score": float(person_scores[i]),
             "keypoints": {n: [float(v) for v in k] for n, k in zip(keypoints.names, kpts[i])}}
            for i in keep]


def estimate_poses(model: nn.Module, image: np.ndarray, person_boxes: Iterable[Sequence[float]],
                   codec: HeatmapCodec, keypoints: KeypointSet, test_cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Keypoints of each person box (x, y, w, h, score) in an RGB image, official
    post-processing (rescoring and OKS-NMS) included; all crops in one forward."""
    return next(estimate_poses_batched(model, [(None, image, person_boxes)], codec, keypoints, test_cfg))[2]


@dataclass
class _Pending:
    """An image whose crops are on their way through the batches."""

    key: Any
    image: np.ndarray
    crops: torch.Tensor
    centers: np.ndarray
    scales: np.ndarray
    boxes: list[list[float]]
    scores: list[float]
    done: int = 0  # crops run so far
    preds: list[np.ndarray] = field(default_factory=list)
    maxvals: list[np.ndarray] = field(default_factory=list)


def estimate_poses_batched(model: nn.Module, items: Iterable[tuple[Any, np.ndarray, Iterable[Sequence[float]]]],
                           codec: HeatmapCodec, keypoints: KeypointSet, test_cfg: Mapping[str, Any],
                           batch_size: int | None = None, timer: StageTimer | None = None
                           ) -> Iterator[tuple[Any, np.ndarray, list[dict[str, Any]]]]:
    """``(key, image, people)`` for each ``(key, image, person_boxes)`` of ``items``, in order,
    as :func:`estimate_poses` gives them.

    ``batch_size`` None: one forward per image (all its crops). A number: the crops of
    consecutive images go through the model that many at a time, an image's crops split across
    batches where they overflow one; ``items`` is read lazily and only the images whose crops
    are waiting for a batch are held, so memory is bounded by the batch, not by the input.
    ``timer`` (:class:`hrseg.utils.profile.StageTimer`) gets the crop, model and postprocess
    (heatmap decoding, rescoring, OKS-NMS) seconds.
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    timer = timer or StageTimer()
    device = next(model.parameters()).device
    pending: deque[_Pending] = deque()
    queued = 0  # crops waiting for a forward

    def run(n: int) -> None:
        """Forward the next ``n`` waiting crops, oldest first, in one batch."""
        parts = []
        for item in pending:
            take = min(n - sum(len(p[1]) for p in parts), len(item.crops) - item.done)
            if take > 0:
                parts.append((item, range(item.done, item.done + take)))
        with timer("model"):
            heatmaps = crop_heatmaps(model, torch.cat([it.crops[r.start:r.stop] for it, r in parts]).to(device),
                                     keypoints, test_cfg, codec.maps_per_joint)
        with timer("postprocess"):
            preds, maxvals = codec.decode(heatmaps, np.concatenate([it.centers[r.start:r.stop] for it, r in parts]),
                                          np.concatenate([it.scales[r.start:r.stop] for it, r in parts]))
        start = 0
        for item, r in parts:
            item.preds.append(preds[start:start + len(r)])
            item.maxvals.append(maxvals[start:start + len(r)])
            item.done, start = r.stop, start + len(r)

    def finished() -> Iterator[tuple[Any, np.ndarray, list[dict[str, Any]]]]:
        while pending and pending[0].done == len(pending[0].crops):
            item = pending.popleft()
            with timer("postprocess"):
                people = (people_of(np.concatenate(item.preds), np.concatenate(item.maxvals), item.scales,
                                    item.boxes, item.scores, keypoints, test_cfg) if item.preds else [])
            yield item.key, item.image, people

    for key, image, person_boxes in items:
        with timer("crop"):
            crops, centers, scales, boxes, scores, _ = crop_people(image, person_boxes, codec, test_cfg["image_thr"])
        pending.append(_Pending(key, image, crops, centers, scales, boxes, scores))
        queued += len(crops)
        while queued and queued >= (batch_size or queued):
            n = batch_size or queued
            run(n)
            queued -= n
        yield from finished()
    if queued:
        run(queued)
    yield from finished()
