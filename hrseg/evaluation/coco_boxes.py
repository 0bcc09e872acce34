"""COCO box AP/AR with pycocotools: ``COCOeval(gt, dt, 'bbox')`` and its 12 stats.

COCO's own rules apply: detections matched to crowd regions are ignored, at most 100
detections per image count, areas split at 32**2 and 96**2. pycocotools reports -1 for a stat
with no ground truth (e.g. no small objects); that is kept. Results are COCO detection records
``{'image_id', 'category_id', 'bbox': [x, y, w, h], 'score'}``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from pycocotools.coco import COCO

from hrseg.data.det.coco_instances import load_coco_instances
from hrseg.errors import DataError
from hrseg.evaluation.coco_eval import finite_number, format_table, load_results, run_cocoeval
from hrseg.utils.io import write_json

__all__ = ["STAT_NAMES", "evaluate_boxes", "format_table", "write_box_results"]

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
_RESULT_FIELDS = ("image_id", "category_id", "bbox", "score")


def write_box_results(path: str | os.PathLike, results: Sequence[dict]) -> Path:
    """Write COCO detection results atomically (a reader never sees half a file)."""
    return write_json(path, list(results), indent=None)


def _check_box(det: dict, name: str) -> None:
    box = det["bbox"]
    if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(finite_number(v) for v in box)):
        raise DataError(f"{name}: detection bbox {str(box)[:60]} is not [x, y, w, h], four finite numbers")


def evaluate_boxes(gt: str | os.PathLike | COCO, results: str | os.PathLike | Sequence[dict],
                   img_ids: Iterable[int] | None = None, cat_ids: Iterable[int] | None = None,
                   verbose: bool = True, title: str = "COCO boxes") -> dict[str, float]:
    """COCO box stats of ``results`` (a results JSON or its list of records) against ``gt`` (an
    instances JSON or a loaded ``COCO``) on ``img_ids`` and ``cat_ids`` (default: all images
    and categories of ``gt``).

    Returns ``{name: value}`` for :data:`STAT_NAMES`; prints them as a table when ``verbose``.
    Empty results give pycocotools' stats of no detections (0; -1 without ground truth), with a
    warning.
    """
    coco = gt if isinstance(gt, COCO) else load_coco_instances(gt)
    dets, name = load_results(results, coco, _RESULT_FIELDS, "box results", _check_box)
    stats = run_cocoeval(coco, dets, name, "bbox", STAT_NAMES, img_ids, cat_ids, "detections")
    if verbose:
        print(format_table(stats, title))
    return stats
