"""Every head of the multi-task model evaluated in one pass over a dataset, in one table.

- boxes and masks: COCO box and mask AP (:mod:`hrseg.evaluation.coco_boxes`, ``coco_masks``)
  over the categories the model shares with the annotation file;
- keypoints: COCO keypoint AP of the *detected* people (each person detection with its
  predicted keypoints; no ground-truth boxes), OKS with the keypoint set's sigmas
  (:mod:`hrseg.evaluation.coco_keypoints`), the people post-processed as the top-down pose test
  does (official rescoring by keypoint confidence, OKS-NMS): the two keypoint pipelines of
  docs/multitask.md's comparison are judged alike;
- segmentation: mIoU of the predicted class map at the image's size
  (:class:`hrseg.evaluation.segmentation.ConfusionMatrix`).

A head the model lacks, or labels the dataset lacks (no keypoint file, no label maps, no image
whose every instance has a mask), skip that metric with a message saying why; the mask AP covers
the images whose every instance has a mask (:func:`~hrseg.evaluation.coco_masks.mask_coverage`),
said under the table when that is not all of them. A head that predicted nothing scores 0, said
there too (not as the evaluators' warning on stderr). Distributed: each process predicts its
share, the records are gathered and the confusion matrices summed.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from hrseg.data.det.dataset import det_collate
from hrseg.data.multi.dataset import MultiTaskDataset
from hrseg.engine import all_gather_object, get_rank
from hrseg.engine.distributed import shard
from hrseg.evaluation.coco_boxes import evaluate_boxes
from hrseg.evaluation.coco_keypoints import evaluate_keypoints
from hrseg.evaluation.coco_masks import evaluate_masks, mask_coverage, split_results
from hrseg.evaluation.segmentation import ConfusionMatrix
from hrseg.inference.pose_postprocess import OKS_THR, VIS_THR, oks_nms, rescore
from hrseg.inference.predictor import every_detection
from hrseg.meta.classes import IGNORE_INDEX
from hrseg.meta.keypoints import OKS_SIGMAS
from hrseg.tasks.detection import matched_categories, to_coco_results
from hrseg.utils.progress import progress_iter

log = logging.getLogger("hrseg")

__all__ = ["evaluate_multitask", "format_multitask", "keypoint_results"]


def keypoint_results(image_id: int, output: Mapping[str, torch.Tensor], keypoint_label: int, category_id: int,
                     vis_thr: float | None = VIS_THR, oks_thr: float | None = OKS_THR,
                     sigmas: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """COCO keypoint records of the person detections of one output, post-processed as the
    top-down pose test does (the official HRNet test): each person scored by its box score times
    the mean confidence of its keypoints above ``vis_thr`` (:func:`rescore`; ``None``: the box
    score), then OKS-NMS at ``oks_thr`` (``None``: none) over the detection boxes' areas."""
    if "keypoints" not in output:
        return []
    people = (output["labels"] == keypoint_label).nonzero().flatten()
    if not len(people):
        return []
    kps = output["keypoints"][people].detach().float().cpu().numpy().astype(np.float64)
    scores = output["scores"][people].detach().float().cpu().numpy().astype(np.float64)
    if vis_thr is not None and "keypoints_scores" in output:
        confidences = output["keypoints_scores"][people].detach().float().cpu().numpy()
        scores = rescore(confidences, scores, vis_thr)
    keep = range(len(kps))
    if oks_thr is not None:
        boxes = output["boxes"][people].detach().float().cpu().numpy()
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = oks_nms(kps, scores, areas, oks_thr, OKS_SIGMAS if sigmas is None else sigmas)
    out = []
    for i in keep:
        points = np.round(kps[i], 2)
        points[:, 2] = 1.0
        out.append({"image_id": int(image_id), "category_id": int(category_id),
                    "keypoints": points.reshape(-1).tolist(), "score": round(float(scores[i]), 5)})
    return out


@torch.no_grad()
def predict_all(model: nn.Module, dataset: MultiTaskDataset, cat_ids: Sequence[int | None], keypoint_label: int,
                keypoint_cat: int | None, num_seg_classes: int, batch_size: int = 2, progress: bool = True,
                **people: Any) -> tuple[list[dict], list[dict], ConfusionMatrix | None]:
    """Detection records (boxes, masks), keypoint records (``people``: :func:`keypoint_results`'
    post-processing options) and the confusion matrix of every image."""
    model = getattr(model, "module", model).eval()
    device = next(model.parameters()).device
    loader = DataLoader(Subset(dataset, list(shard(range(len(dataset))))), batch_size=batch_size,
                        collate_fn=det_collate)
    cm = ConfusionMatrix(num_seg_classes, IGNORE_INDEX) if num_seg_classes else None
    dets: list[dict] = []
    kps: list[dict] = []
    shown = progress and get_rank() == 0
    with every_detection(model):
        for batch in progress_iter(loader, len(loader), "predict", disable=not shown):
            outputs = model([image.to(device) for image in batch["images"]])
            for image_id, output, target in zip(batch["image_id"].tolist(), outputs, batch["targets"]):
                dets += to_coco_results(image_id, output, cat_ids)
                if keypoint_cat is not None:
                    kps += keypoint_results(image_id, output, keypoint_label, keypoint_cat, **people)
                if cm is not None and "semantic" in output:
                    cm.update(output["semantic"].cpu(), target["semantic"])
    if cm is not None:
        cm.all_reduce()
    gather = lambda records: [r for part in all_gather_object(records) for r in part]  # noqa: E731
    return gather(dets), gather(kps), cm


def _stats(evaluate: Callable[..., dict[str, float]], gt: Any, records: list[dict],
           notice: str, notices: list[str], **options: Any) -> dict[str, float]:
    """``evaluate(gt, records, **options)``, whose stats of no records are pycocotools' (0, -1
    where there is no ground truth, as every other evaluation of hrseg reports them); no records
    also add ``notice`` to ``notices``, so the table says why."""
    if not records:
        notices.append(notice)
    return evaluate(gt, records, **options)


def evaluate_multitask(model: nn.Module, dataset: MultiTaskDataset, classes: Sequence[Mapping[str, Any]],
                       sigmas: Sequence[float] | None, batch_size: int = 2, vis_thr: float | None = VIS_THR,
                       oks_thr: float | None = OKS_THR, runner: nn.Module | None = None
                       ) -> tuple[dict[str, float], list[str]]:
    """The metrics of every head the model and the data both have, and the messages saying which
    were skipped. Keys: the 12 box stats (``AP``, ``AP50``, ...), ``mask_*``, ``kp_*`` (the 10
    keypoint stats), ``mIoU``, ``pixel_acc``. ``vis_thr``, ``oks_thr``: the people's rescoring
    and OKS-NMS (:func:`keypoint_results`). ``runner``: what predicts (an exported graph on its
    backend; default ``model``); ``model`` says what the heads are (an
    :class:`~hrseg.export.runners.ExportedFile` too)."""
    heads = model.heads
    gt = dataset.instances
    cat_ids, matched = matched_categories(classes, gt)
    skipped = []
    coverage = mask_coverage(gt.coco, dataset.image_ids, matched) if heads["masks"] else None
    if coverage is None:
        skipped.append("mask AP skipped: the model has no mask head")
    elif coverage.note:  # images with instances without masks cannot be scored for masks
        skipped.append(coverage.note)
    names = [str(c["name"]).lower() for c in classes]
    keypoint_label = getattr(getattr(model, "roi_heads", model), "keypoint_label", 1)
    keypoint_cat = None
    if not heads["keypoints"]:
        skipped.append("keypoint AP skipped: the model has no keypoint head")
    elif dataset.keypoint_coco is None:
        skipped.append("keypoint AP skipped: the dataset has no keypoint annotations (data.*.keypoint_file)")
    elif not 1 <= keypoint_label <= len(names):
        skipped.append("keypoint AP skipped: the model's keypoint class is not among its classes")
    else:
        by_name = {str(c["name"]).lower(): c["id"] for c in dataset.keypoint_coco.dataset["categories"]
                   if c.get("keypoints")}
        keypoint_cat = by_name.get(names[keypoint_label - 1])
        if keypoint_cat is None:
            skipped.append(f"keypoint AP skipped: no keypoint category named {names[keypoint_label - 1]!r}")
    num_seg = 0
    if not heads["segmentation"]:
        skipped.append("mIoU skipped: the model has no segmentation head")
    elif dataset.semantic_dir is None:
        skipped.append("mIoU skipped: the dataset has no semantic label maps (data.*.semantic_dir)")
    elif not (labelled := sum(dataset.semantic_path(i).is_file() for i in dataset.image_ids)):
        skipped.append(f"mIoU skipped: none of the {len(dataset.image_ids)} images has a label map "
                       f"(<image stem>.png) in {dataset.semantic_dir}")
    else:
        if labelled < len(dataset.image_ids):
            skipped.append(f"mIoU over the {labelled} of {len(dataset.image_ids)} images with a label map in "
                           f"{dataset.semantic_dir}")
        head = getattr(model, "seg_head", None)  # an exported file records its class count
        num_seg = head.last_layer[-1].out_channels if head is not None else model.seg_classes
    people = dict(vis_thr=vis_thr, oks_thr=oks_thr, sigmas=sigmas)
    records, kp_records, cm = predict_all(runner or model, dataset, cat_ids, keypoint_label, keypoint_cat, num_seg,
                                          batch_size, **people)
    boxes, masks = split_results(records)
    img_ids = dataset.image_ids
    log.info(f"scoring {len(boxes)} boxes, {len(masks)} masks and {len(kp_records)} people of {len(img_ids)} images "
             "with pycocotools")
    metrics = _stats(evaluate_boxes, gt.coco, boxes, "box AP: the model detected nothing", skipped,
                     img_ids=img_ids, cat_ids=matched, verbose=False)
    if coverage is not None and coverage.scorable:
        stats = _stats(evaluate_masks, gt.coco, masks, "mask AP: the model predicted no masks", skipped,
                       img_ids=coverage.img_ids, cat_ids=matched, verbose=False)
        metrics.update({f"mask_{k}": v for k, v in stats.items()})
    if keypoint_cat is not None:
        stats = _stats(evaluate_keypoints, dataset.keypoint_coco, kp_records,
                       "keypoint AP: the model detected no people", skipped, img_ids=img_ids, verbose=False,
                       sigmas=sigmas)
        metrics.update({f"kp_{k.replace(' ', '').replace('.5', '50').replace('.75', '75')}": v
                        for k, v in stats.items()})
    if cm is not None:
        result = cm.compute()
        metrics.update(mIoU=result["mIoU"], pixel_acc=result["pixel_acc"])
    return metrics, skipped


def format_multitask(metrics: Mapping[str, float], title: str, skipped: Sequence[str] = ()) -> str:
    """One table: a row per head (AP, AP50, AP75, APm, APl; mIoU and pixel accuracy for the
    segmentation), then the skip messages."""
    fmt = lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"  # noqa: E731
    lines = [f"{title}", "", "| head | AP | AP50 | AP75 | AP (M) | AP (L) |", "|---|---:|---:|---:|---:|---:|"]
    for head, prefix, names in (("boxes", "", ("AP", "AP50", "AP75", "APm", "APl")),
                                ("masks", "mask_", ("AP", "AP50", "AP75", "APm", "APl")),
                                ("keypoints, detected people", "kp_", ("AP", "AP50", "AP75", "AP(M)", "AP(L)"))):
        if f"{prefix}AP" in metrics:
            lines.append(f"| {head} | " + " | ".join(fmt(metrics.get(prefix + n)) for n in names) + " |")
    if "mIoU" in metrics:
        lines.append(f"| segmentation | mIoU {fmt(metrics['mIoU'])} | pixel acc. {fmt(metrics['pixel_acc'])} | | | |")
    return "\n".join(lines + [f"({s})" for s in skipped])
