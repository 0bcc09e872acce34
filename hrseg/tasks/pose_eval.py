"""The pose task's evaluation: every person of a dataset predicted through the one top-down path
(:func:`hrseg.inference.top_down.predict_crops`), then scored as its format is: COCO keypoint AP
(rescored, OKS-NMS results, pycocotools) or MPII's PCKh (one prediction per annotated person,
:mod:`hrseg.evaluation.pckh`).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from torch import nn
from torch.utils.data import DataLoader, Subset

from hrseg.backends import inference_runner
from hrseg.codecs.msra import HeatmapCodec
from hrseg.data.pose.dataset import CocoPoseDataset, pose_collate
from hrseg.data.pose.mpii import MpiiKeypoints, load_mpii_ground_truth, write_mpii_predictions
from hrseg.engine import all_gather_object, get_rank, get_world_size
from hrseg.errors import DataError
from hrseg.evaluation.coco_keypoints import evaluate_keypoints, format_table
from hrseg.evaluation.pckh import evaluate_pckh, format_pckh
from hrseg.inference.optimize import inference_model
from hrseg.inference.pose_postprocess import pose_results, write_keypoint_results
from hrseg.inference.top_down import predict_crops
from hrseg.utils.io import write_json
from hrseg.utils.progress import progress_iter
from hrseg.engine.workers import start_workers

__all__ = ["evaluate_dataset", "format_metrics", "predict_dataset", "predict_people"]

_PARTS = ("preds", "maxvals", "index", "image_id", "center", "scale", "score", "area")


def predict_people(model: nn.Module, dataset: CocoPoseDataset, test_cfg: Mapping[str, Any], batch_size: int = 64,
                   num_workers: int = 0, progress: bool = True, codec: HeatmapCodec | None = None,
                   name: str | None = None) -> dict[str, np.ndarray]:
    """Keypoints (N, K, 2) image pixels, scores (N, K, 1) and each person's bookkeeping (dataset
    ``index``, image id, centre, scale, box score, OKS area) for every person of ``dataset``, in
    its order (on ``test_cfg``'s backend when the model's registry ``name`` is given, else torch).

    Distributed: each process predicts its share; every process gets all of them.
    """
    codec = codec or replace(dataset.codec, decoder=test_cfg["decoder"])
    runner = (inference_runner(model, test_cfg, name, codec.input_size) if name else
              inference_model(model, test_cfg))
    rank, world = get_rank(), get_world_size()
    loader = DataLoader(Subset(dataset, list(range(rank, len(dataset), world))), batch_size=batch_size,
                        num_workers=num_workers, collate_fn=pose_collate)
    device = next(model.parameters()).device
    parts: dict[str, list] = {k: [] for k in _PARTS}
    for batch in progress_iter(start_workers(loader), len(loader), "predict", disable=not progress or rank != 0):
        meta = batch["meta"]
        centers, scales = meta["center"].numpy(), meta["scale"].numpy()
        preds, maxvals = predict_crops(runner, batch["image"].to(device), centers, scales, codec, dataset.keypoints,
                                       test_cfg)
        for key, value in (("preds", preds), ("maxvals", maxvals), ("center", centers), ("scale", scales)):
            parts[key].append(value)
        for key in ("index", "image_id", "score", "area"):
            parts[key].append(meta[key].numpy())
    gathered = [g for g in all_gather_object({k: np.concatenate(v) for k, v in parts.items() if v}) if g]
    if not gathered:
        return {}
    merged = {k: np.concatenate([g[k] for g in gathered]) for k in _PARTS}
    order = np.argsort(merged["index"], kind="stable")
    return {k: v[order] for k, v in merged.items()}


def predict_dataset(model: nn.Module, dataset: CocoPoseDataset, test_cfg: Mapping[str, Any],
                    batch_size: int = 64, num_workers: int = 0, progress: bool = True,
                    codec: HeatmapCodec | None = None, name: str | None = None) -> list[dict]:
    """COCO keypoint results (rescored, OKS-NMS) for every person instance of ``dataset``."""
    people = predict_people(model, dataset, test_cfg, batch_size, num_workers, progress, codec, name)
    if not people:
        return []
    keypoints = dataset.keypoints
    return pose_results(people["preds"], people["maxvals"], people["image_id"], people["center"],
                        people["scale"], people["score"], people["area"], vis_thre=test_cfg["vis_thr"],
                        oks_thre=test_cfg["oks_thr"], sigmas=keypoints.sigmas, category_id=keypoints.category_id)


def evaluate_dataset(model: nn.Module, dataset: CocoPoseDataset, test_cfg: Mapping[str, Any],
                     out_json: str | os.PathLike | None = None, batch_size: int = 64,
                     num_workers: int = 0, verbose: bool = True, codec: HeatmapCodec | None = None,
                     name: str | None = None, gt_file: str | os.PathLike | None = None) -> dict[str, float]:
    """The metrics of ``model`` on ``dataset``'s people, results written to ``out_json``: COCO keypoint
    AP (OKS with the dataset's keypoint sigmas), or for MPII's people PCKh against ``gt_file``
    (the head boxes' ``.mat``)."""
    if isinstance(dataset.coco, MpiiKeypoints):
        return _evaluate_mpii(model, dataset, test_cfg, out_json, batch_size, num_workers, verbose, codec, name,
                              gt_file)
    results = predict_dataset(model, dataset, test_cfg, batch_size, num_workers, codec=codec, name=name)
    if out_json is not None and get_rank() == 0:
        write_keypoint_results(out_json, results)
    return evaluate_keypoints(dataset.coco.coco, results, img_ids=dataset.coco.image_ids,
                              verbose=verbose and get_rank() == 0, sigmas=dataset.keypoints.sigmas)


def _evaluate_mpii(model: nn.Module, dataset: CocoPoseDataset, test_cfg: Mapping[str, Any],
                   out_json: str | os.PathLike | None, batch_size: int, num_workers: int, verbose: bool,
                   codec: HeatmapCodec | None, name: str | None, gt_file: str | os.PathLike | None
                   ) -> dict[str, float]:
    """PCKh of one prediction per annotated person; the ground truth's rows are the people's places in
    the annotation file (a subset of images, or people left out for want of a centre, still line up).
    Beside ``out_json`` the official ``pred.mat`` layout (``<out_json stem>.mat``); the test file, without
    joints, gets only those (no metrics)."""
    annotation = dataset.coco
    gt = None
    if annotation.annotated:
        if gt_file is None:
            raise DataError(f"{annotation.ann_file}: MPII's PCKh needs the ground-truth .mat with the head boxes "
                            "(data.val.gt_file: the official annot/gt_valid.mat, mmpose's annotations/mpii_gt_val.mat)")
        gt = load_mpii_ground_truth(gt_file)
        if gt.num_people != len(annotation.people):
            raise DataError(f"{gt_file}: {gt.num_people} people, but {annotation.ann_file} lists "
                            f"{len(annotation.people)}: the .mat is not this file's ground truth")
    people = predict_people(model, dataset, test_cfg, batch_size, num_workers, codec=codec, name=name)
    rows = np.array([dataset.instances[i].ann_id for i in people["index"]], dtype=np.int64)
    if out_json is not None and get_rank() == 0:
        write_json(out_json, [{"image": annotation.people[r]["image"], "person": int(r),
                               "keypoints": np.concatenate([p, s], axis=1).round(3).ravel().tolist()}
                              for r, p, s in zip(rows, people["preds"], people["maxvals"])], indent=None)
        write_mpii_predictions(Path(out_json).with_suffix(".mat"), people["preds"], rows, len(annotation.people))
    if gt is None:  # the test split: predictions for the benchmark, nothing to score here
        return {}
    stats = evaluate_pckh(people["preds"], gt.take(rows), source=str(gt_file))
    if verbose and get_rank() == 0:
        print(format_pckh(stats, "MPII PCKh"))
    return stats


def format_metrics(stats: Mapping[str, float], title: str) -> str:
    """The report's table: PCKh's for MPII's metrics, else COCO's keypoint AP (none: a split without joints)."""
    if not stats:
        return f"{title}: no metrics (the split has no joints to score; the predictions are in the results)"
    if "PCKh" in stats:
        return format_pckh(dict(stats), f"MPII PCKh, {title}")
    return format_table(dict(stats), title=f"COCO keypoints, {title}")

