"""Top-down COCO keypoint dataset: adapter + crop/augmentation + heatmap codec.

A sample is a dict ``{'image': (3, h, w) float, 'target': (K, hh, hw) float, 'target_weight':
(K, 1) float, 'meta': {...}}`` where meta holds what decoding and evaluation need (centre,
scale, rotation, image id, box score, OKS area, flipped, joints in the crop). With
``draw_targets = False`` the worker leaves out 'target' and 'target_weight' (the heatmaps are
drawn on the GPU from meta's joints, :mod:`hrseg.codecs.heatmap_torch`); with
``normalize_images = False`` 'image' is the uint8 crop, (3, h, w), normalised on the device by the
training step (:class:`hrseg.utils.image.Normalizer`, ``train.device_normalize``).

Bad images: in training a missing or corrupt image, or one whose decoded size is not the
annotation file's (an EXIF-rotated file, say), is skipped: one warning per file and process,
the sample comes back as a :class:`SkippedSample` that :func:`pose_collate` drops, and
``dataset.num_skipped`` counts them across DataLoader workers (the engine's epoch summary reads
it). In evaluation and inference every person must be predicted, so it raises
:class:`DataError`.

Outcomes for odd annotations (see the adapter): an image without person annotations gives no
samples; a zero-area box is dropped; a labelled keypoint outside its image becomes
unlabelled; a keypoint outside the crop gets target weight 0. A dataset with no person at all
is a :class:`DataError` naming the annotation file.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from hrseg.codecs.heatmap_torch import codec_targets
from hrseg.codecs.msra import HeatmapCodec
from hrseg.data.coco import check_image_files
from hrseg.data.augment import build_randaugment
from hrseg.data.common import SkippedSample, skip_sample  # noqa: F401  (re-exported)
from hrseg.data.pose.coco_keypoints import CocoKeypoints, PersonInstance
from hrseg.data.pose.mpii import MpiiKeypoints
from hrseg.data.pose.transforms import PoseAugment, normalize, top_down_crop
from hrseg.errors import ConfigError, DataError
from hrseg.meta.keypoints import KeypointSet
from hrseg.utils.image import chw_uint8
from hrseg.utils.image_io import read_image

__all__ = ["CocoPoseDataset", "SkippedSample", "pose_collate", "skip_sample"]

logger = logging.getLogger(__name__)


def pose_collate(batch: Sequence[dict | SkippedSample]) -> dict | None:
    """``default_collate`` without the skipped samples; None when the whole batch was skipped.

    The batch's ``'skipped'`` entry lists the files skipped in it.
    """
    kept = [s for s in batch if not isinstance(s, SkippedSample)]
    skipped = [s.path for s in batch if isinstance(s, SkippedSample)]
    if not kept:
        return None
    out = default_collate(kept)
    out["skipped"] = skipped
    return out


class CocoPoseDataset(Dataset):
    """Person crops of a COCO keypoint file for training (``train=True``: official
    augmentation, skip bad images) or evaluation (no augmentation, bad images are errors).

    Instances are the ground-truth people (:meth:`CocoKeypoints.gt_instances`) unless
    ``det_file`` gives person detections (evaluation with detected boxes). Sizes are (H, W),
    as in configs (``codec``, when given, holds them and the rest of the encoding);
    ``sigma`` is in heatmap pixels (2 for 64x48 heatmaps, 1 for 32x24). Augmentation draws
    from ``numpy.random.default_rng([seed, epoch, index])``: fixed by the seed, independent of
    worker assignment; :meth:`set_epoch` moves to the next epoch's draws. ``clip_visibility``
    (off, as the official code and ``data.clip_visibility``): joints that leave the crop lose their
    target weight even where part of their Gaussian is on the map. ``annotations``: the people of
    another format's file (:class:`~hrseg.data.pose.mpii.MpiiKeypoints`), in place of the COCO file's.
    """

    def __init__(self, ann_file: str | os.PathLike, image_dir: str | os.PathLike, train: bool,
                 input_size: Sequence[int] = (256, 192), heatmap_size: Sequence[int] = (64, 48),
                 sigma: float = 2.0, augment: PoseAugment | None = None,
                 img_ids: Iterable[int] | None = None, det_file: str | os.PathLike | None = None,
                 image_thre: float = 0.0, use_different_joints_weight: bool = False,
                 unbiased_encoding: bool = False, clip_visibility: bool = False,
                 seed: int = 0, keypoints: KeypointSet | None = None, codec: HeatmapCodec | None = None,
                 annotations: CocoKeypoints | MpiiKeypoints | None = None) -> None:
        # the config's codec, else one from the sizes given: the one place sizes and sigma live
        self.codec = codec or HeatmapCodec((int(input_size[0]), int(input_size[1])),
                                           (int(heatmap_size[0]), int(heatmap_size[1])), float(sigma),
                                           unbiased_encoding, use_different_joints_weight=use_different_joints_weight)
        self._final_codec = self.codec
        self.train = train
        self.augment = (augment or PoseAugment()) if train else None
        self.clip_visibility = clip_visibility
        self.seed = seed
        self.epoch = 0
        # the people: of a COCO file, or of another format's adapter (MPII's)
        self.coco = annotations or CocoKeypoints(ann_file, image_dir, self.codec.input_size, img_ids)
        # the joints: given (e.g. recorded in a checkpoint), else the file's (COCO's person gets its
        # official sigmas, flip pairs and half-body groups)
        self.keypoints = keypoints or self.coco.default_keypoints()
        if self.keypoints.num_joints != self.coco.num_joints:
            raise DataError(f"{ann_file}: {self.coco.num_joints} keypoints per instance, but the model's "
                            f"keypoint set has {self.keypoints.num_joints}")
        self.flip_pairs = self.keypoints.flip_pairs
        self.flip_index = self.keypoints.flip_index
        if det_file is not None:
            self.instances: list[PersonInstance] = self.coco.detection_instances(det_file,
                                                                                image_thre)
            source = f"{det_file} (score >= {image_thre})"
        else:
            self.instances = self.coco.gt_instances()
            source = str(ann_file)
        if not self.instances:
            used, total = len(self.coco.image_ids), self.coco.num_images
            scope = ("" if used == total else
                     f" in the {used} of {total} image(s) selected by data.*.img_ids / coco_split")
            raise DataError(f"{source}: no person instances to use{scope}"
                            + ("; people need labelled keypoints" if det_file is None else ""))
        # shared with DataLoader workers, read by the engine's epoch summary
        self.num_skipped = multiprocessing.Value("l", 0)
        # ``fn(uint8 crop, rng) -> crop`` after the crop's augmentation (progressive learning's
        # RandAugment, set per stage by set_stage)
        self.randaugment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
        # False: samples carry no 'target' / 'target_weight', the training step makes them on the
        # device from meta's joints (hrseg.codecs.heatmap_torch, train.gpu_targets)
        self.draw_targets = True
        # False: 'image' is the uint8 crop, normalised on the device (train.device_normalize)
        self.normalize_images = True
        # what a format's metric needs beside the annotation file (MPII's PCKh: the head boxes' .mat), set by the task
        self.gt_file: Path | None = None
        self._device_weights: dict[torch.device, torch.Tensor] = {}


    def set_stage(self, image_size: Sequence[int], randaugment: float = 0.0, randaugment_ops: int = 2) -> None:
        """Train at another crop size (H, W), e.g. a progressive-learning stage: the codec's rescaled
        copy (the heatmaps keep the stride, sigma scales with them, covering the same part of the
        body); ``randaugment`` is the photometric RandAugment magnitude (0 = off)."""
        final = self._final_codec
        h, w = int(image_size[0]), int(image_size[1])
        stride_h, stride_w = (final.input_size[i] / final.heatmap_size[i] for i in (0, 1))
        if h % stride_h or w % stride_w:
            raise ConfigError(f"pose stage size {h}x{w} is not a multiple of the heatmap stride "
                              f"{stride_h:g}x{stride_w:g} of data.heatmap_size")
        self.codec = final.rescaled((h, w))
        self.randaugment = build_randaugment(randaugment, randaugment_ops)

    def device_targets(self, meta: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The heatmap targets (N, K, h, w) and weights (N, K, 1) of a collated batch drawn on its
        device from ``meta``'s joints, with the current codec (a progressive stage's included): what
        the workers would have drawn with ``draw_targets`` (:mod:`hrseg.codecs.heatmap_torch`)."""
        joints = meta["joints"]
        weights = self._device_weights.get(joints.device)
        if weights is None:  # made once per device, outside any CUDA graph capture
            weights = self._device_weights[joints.device] = torch.as_tensor(
                self.keypoints.weights, dtype=torch.float32).to(joints.device)
        return codec_targets(self.codec, joints, meta["joints_vis"], weights)

    def __len__(self) -> int:
        return len(self.instances)

    def check_files(self) -> None:
        """One :class:`DataError` listing the missing image files (evaluation runs this first)."""
        check_image_files((inst.image_file for inst in self.instances), self.coco.ann_file)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _read(self, inst: PersonInstance) -> np.ndarray | SkippedSample:
        try:
            image = read_image(inst.image_file, apply_exif=False)
            size = self.coco.image_size(inst.image_id)
            if size is not None and image.shape[:2] != size:
                # e.g. an EXIF rotation: the annotations would not fit the pixels
                raise DataError(f"{inst.image_file}: decoded as {image.shape[1]}x"
                                f"{image.shape[0]}, but {self.coco.ann_file.name} says {size[1]}x{size[0]}")
            return image
        except DataError as e:
            if not self.train:
                raise
            return skip_sample(self.num_skipped, str(inst.image_file), e)

    def __getitem__(self, index: int) -> dict[str, Any] | SkippedSample:
        inst = self.instances[index]
        image = self._read(inst)
        if isinstance(image, SkippedSample):
            return image
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        crop = top_down_crop(image, inst.center, inst.scale, inst.joints, inst.joints_vis,
                             self.codec.input_size[::-1], rng, self.augment, self.flip_pairs,
                             self.clip_visibility, self.keypoints.upper_body_ids, self.codec.udp)
        meta = {
            "image_id": inst.image_id, "image_file": str(inst.image_file), "index": index,
            "center": crop.center.astype(np.float32), "scale": crop.scale.astype(np.float32),
            "rotation": np.float32(crop.rotation), "score": np.float32(inst.score),
            "area": np.float32(inst.area), "flipped": crop.flipped,
            "joints": crop.joints.astype(np.float32), "joints_vis": crop.joints_vis,
        }
        image = crop.image if self.randaugment is None or rng is None else self.randaugment(crop.image, rng)
        sample = {"image": normalize(image) if self.normalize_images else chw_uint8(image)}
        if self.draw_targets:  # else the training step draws them on the device from meta's joints
            target, target_weight = self.codec.encode(crop.joints, crop.joints_vis, self.keypoints.weights)
            sample.update(target=torch.from_numpy(target), target_weight=torch.from_numpy(target_weight))
        sample["meta"] = meta
        return sample
