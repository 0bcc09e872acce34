"""Top-down pose prediction: person boxes -> crops -> heatmaps -> keypoints in image pixels.

One path (:func:`predict_crops`: optional flip test, then the codec's decoding) serves the
evaluation during training, ``tools/test_pose.py`` and ``tools/infer_pose.py``, so the numbers
are the same wherever they are computed. All the crops of an image go through one forward.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hrseg.codecs.msra import HeatmapCodec
from hrseg.geometry import box_to_center_scale, get_affine_transform, warp_crop
from hrseg.inference.pose_postprocess import flip_test, oks_nms, rescore
from hrseg.meta.keypoints import KeypointSet
from hrseg.utils.image import normalize


@torch.no_grad()
def predict_crops(model: nn.Module, images: torch.Tensor, centers: np.ndarray, scales: np.ndarray,
                  codec: HeatmapCodec, keypoints: KeypointSet, test_cfg: Mapping[str, Any]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (N, K, 2) in image pixels and their heatmap maxima (N, K, 1) for person crops."""
    if test_cfg["flip"]:
        heatmaps = flip_test(model, images, keypoints.flip_pairs, test_cfg["shift_heatmap"])
    else:
        heatmaps = model(images)
    return codec.decode(heatmaps.float().cpu(), centers, scales)


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
        crops.append(normalize(warp_crop(image, get_affine_transform(center, scale, 0, (w, h)), (w, h))))
        centers.append(center)
        scales.append(scale)
        kept.append([float(x), float(y), float(bw), float(bh)])
        scores.append(float(score))
    images = torch.stack(crops) if crops else torch.zeros((0, 3, h, w))
    return images, np.array(centers).reshape(-1, 2), np.array(scales).reshape(-1, 2), kept, scores, too_small


def estimate_poses(model: nn.Module, image: np.ndarray, person_boxes: Iterable[Sequence[float]],
                   codec: HeatmapCodec, keypoints: KeypointSet, test_cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Keypoints of each person box (x, y, w, h, score) in an RGB image, official
    post-processing (rescoring and OKS-NMS) included; all crops in one forward."""
    crops, centers, scales, boxes, scores, _ = crop_people(image, person_boxes, codec, test_cfg["image_thr"])
    if not len(crops):
        return []
    device = next(model.parameters()).device
    preds, maxvals = predict_crops(model, crops.to(device), centers, scales, codec, keypoints, test_cfg)
    person_scores = rescore(maxvals, np.array(scores), test_cfg["vis_thr"])
    kpts = np.concatenate([preds, maxvals.reshape(len(preds), -1, 1)], axis=2)
    keep = (oks_nms(kpts, person_scores, np.prod(scales * 200, axis=1), test_cfg["oks_thr"], keypoints.sigmas)
            if test_cfg["oks_thr"] is not None else range(len(preds)))
    return [{"bbox": boxes[i], "box_score": scores[i], "score": float(person_scores[i]),
             "keypoints": {n: [float(v) for v in k] for n, k in zip(keypoints.names, kpts[i])}}
            for i in keep]
