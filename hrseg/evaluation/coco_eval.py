"""What the COCO keypoint and box evaluators share: reading and checking a results file, running
pycocotools' ``COCOeval`` quietly, and printing its stats as a table."""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.errors import DataError

log = logging.getLogger("hrseg")


def finite_number(value: Any) -> bool:
    """A finite int or float (numpy's too), not a bool: what pycocotools can compute with."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def load_results(results: str | os.PathLike | Sequence[dict], gt: COCO, fields: Sequence[str], what: str,
                 check: Callable[[dict, str], None] | None = None) -> tuple[list[dict], str]:
    """The result records of a results JSON (or a list of records), each checked to have
    ``fields`` and an image and category of ``gt``; ``check(record, name)`` adds task rules.
    Problems are :class:`DataError` naming the file."""
    if isinstance(results, (str, os.PathLike)):
        path = Path(results)
        if not path.is_file():
            raise DataError(f"{path}: {what} file not found")
        try:
            dets = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from None
        name = str(path)
    else:
        dets, name = list(results), what
    if not isinstance(dets, list):
        raise DataError(f"{name}: expected a JSON list of results")
    for det in dets:
        missing = [k for k in fields if not isinstance(det, dict) or k not in det]
        if missing:
            raise DataError(f"{name}: a result lacks field(s) {', '.join(missing)}: {str(det)[:80]}")
        for key in ("image_id", "category_id"):
            if not isinstance(det[key], numbers.Integral) or isinstance(det[key], bool):
                raise DataError(f"{name}: a result's {key} {str(det[key])[:40]} is not an integer")
        if "score" in det and not finite_number(det["score"]):
            raise DataError(f"{name}: result for image id {det['image_id']} has score {str(det['score'])[:40]}; "
                            "expected a finite number")
        if det["image_id"] not in gt.imgs:
            raise DataError(f"{name}: result for image id {det['image_id']}, which is not in the ground truth")
        if det["category_id"] not in gt.cats:
            raise DataError(f"{name}: result of category id {det['category_id']}, which is not in the "
                            "ground truth's categories")
        if check is not None:
            check(det, name)
    return dets, name


def run_cocoeval(gt: COCO, dets: list[dict], name: str, iou_type: str, stat_names: Sequence[str],
                 img_ids: Iterable[int] | None = None, cat_ids: Iterable[int] | None = None,
                 what: str = "results", sigmas: Sequence[float] | None = None) -> dict[str, float]:
    """``COCOeval(gt, dets, iou_type)`` on ``img_ids`` / ``cat_ids`` (default: all of ``gt``),
    its stats under ``stat_names``. No results are scored as pycocotools scores them (0 where
    there is ground truth, -1 where there is none, e.g. APs without small objects), with a
    warning (a log line) saying there are no ``what``."""
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        if dets:
            coco_dt = gt.loadRes([{k: list(v) if isinstance(v, (list, tuple)) else v for k, v in d.items()}
                                  for d in dets])  # loadRes edits its input
        else:
            log.warning(f"{name}: no {what} to evaluate; AP and AR are 0 (-1 where there is no ground truth)")
            coco_dt = _no_results(gt)
        ev = COCOeval(gt, coco_dt, iou_type)
        if img_ids is not None:
            ev.params.imgIds = sorted(int(i) for i in img_ids)
        if cat_ids is not None:
            ev.params.catIds = sorted(int(c) for c in cat_ids)
        if sigmas is not None:  # a keypoint set other than COCO's 17 joints
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(stat_names, np.asarray(ev.stats))}


def _no_results(gt: COCO) -> COCO:
    """An empty results set of ``gt``'s images and categories, as ``loadRes`` would build one
    (``loadRes([])`` itself fails on the missing first record)."""
    res = COCO()
    res.dataset = {"images": list(gt.dataset.get("images", [])), "annotations": [],
                   "categories": copy.deepcopy(gt.dataset.get("categories", []))}
    res.createIndex()
    return res


def format_table(stats: dict[str, Any], title: str = "keypoints") -> str:
    """A markdown table of the stats, as the official ``_print_name_value``."""
    names = list(stats)
    head = "| " + title + " | " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    row = "| | " + " | ".join(f"{float(stats[n]):.3f}" for n in names) + " |"
    return "\n".join([head, rule, row])
