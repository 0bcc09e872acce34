"""COCO mask AP/AR with pycocotools: ``COCOeval(gt, dt, 'segm')`` and its 12 stats, through the
same runner as the box and keypoint evaluators (:mod:`hrseg.evaluation.coco_eval`).

Results are COCO ``segm`` records ``{'image_id', 'category_id', 'segmentation': RLE, 'score'}``
with the RLE of the image's size (``counts`` a string, as
:func:`hrseg.data.det.instance_masks.encode_mask` writes it; uncompressed RLE and polygons are
accepted and compressed first). The ground truth's polygons and RLE (crowd regions) are
pycocotools' business, so the numbers are its numbers: COCO's rules apply (detections matched
to crowd regions ignored, 100 per image, areas split at 32**2 and 96**2, -1 for a stat without
ground truth).
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

from pycocotools.coco import COCO

from hrseg.data.det.coco_instances import load_coco_instances
from hrseg.data.det.instance_masks import check_segmentation, to_rle
from hrseg.evaluation.coco_boxes import STAT_NAMES
from hrseg.evaluation.coco_eval import format_table, load_results, run_cocoeval

__all__ = ["STAT_NAMES", "evaluate_masks", "format_metrics", "split_results"]

_RESULT_FIELDS = ("image_id", "category_id", "segmentation", "score")


def evaluate_masks(gt: str | os.PathLike | COCO, results: str | os.PathLike | Sequence[dict],
                   img_ids: Iterable[int] | None = None, cat_ids: Iterable[int] | None = None,
                   verbose: bool = True, title: str = "COCO masks") -> dict[str, float]:
    """COCO mask stats of ``results`` (a ``segm`` results JSON or its records) against ``gt``
    (an instances JSON or a loaded ``COCO``) on ``img_ids`` / ``cat_ids`` (default: all of
    ``gt``). Returns ``{name: value}`` for :data:`STAT_NAMES`; empty results give zeros, with a
    warning. A record whose RLE does not fit its image is a DataError naming the file."""
    coco = gt if isinstance(gt, COCO) else load_coco_instances(gt)

    def check(det: dict, name: str) -> None:
        img = coco.imgs[det["image_id"]]
        check_segmentation(det["segmentation"], int(img["height"]), int(img["width"]),
                           f"{name}: result for image id {det['image_id']}")

    dets, name = load_results(results, coco, _RESULT_FIELDS, "mask results", check)
    dets = [_compressed(d, coco) for d in dets]
    stats = run_cocoeval(coco, dets, name, "segm", STAT_NAMES, img_ids, cat_ids, "masks")
    if verbose:
        print(format_table(stats, title))
    return stats


def _compressed(det: Mapping[str, Any], coco: COCO) -> dict[str, Any]:
    """The record with its segmentation as compressed RLE (pycocotools' ``loadRes`` needs it)."""
    seg = det["segmentation"]
    if isinstance(seg, Mapping) and isinstance(seg["counts"], str):
        return dict(det)
    img = coco.imgs[det["image_id"]]
    rle = to_rle(seg, int(img["height"]), int(img["width"]))
    return {**det, "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}}


def split_results(records: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Records carrying both ``bbox`` and ``segmentation`` as box records and ``segm`` records
    (each only its own geometry, so that pycocotools reads each as the kind it is)."""
    boxes = [{k: v for k, v in r.items() if k != "segmentation"} for r in records]
    masks = [{k: v for k, v in r.items() if k != "bbox"} for r in records if "segmentation" in r]
    return boxes, masks


def format_metrics(metrics: Mapping[str, float], title: str = "COCO boxes") -> str:
    """The box stats as a table and, when there are ``mask_*`` stats, the mask table below it."""
    boxes = {k: v for k, v in metrics.items() if not k.startswith("mask_")}
    masks = {k[len("mask_"):]: v for k, v in metrics.items() if k.startswith("mask_")}
    tables = [format_table(boxes, title)]
    if masks:
        tables.append(format_table(masks, title.replace("boxes", "masks")))
    return "\n".join(tables)
