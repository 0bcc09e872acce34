"""What the COCO keypoint and box evaluators share: reading and checking a results file, running
pycocotools' ``COCOeval`` quietly, and printing its stats as a table."""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.errors import DataError


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
    its stats under ``stat_names``; no results give zeros, with a warning saying no ``what``."""
    if not dets:
        warnings.warn(f"{name}: no {what} to evaluate; every stat is 0", stacklevel=3)
        return {k: 0.0 for k in stat_names}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_dt = gt.loadRes([{k: list(v) if isinstance(v, (list, tuple)) else v for k, v in d.items()}
                              for d in dets])  # loadRes edits its input
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


def format_table(stats: dict[str, Any], title: str = "keypoints") -> str:
    """A markdown table of the stats, as the official ``_print_name_value``."""
    names = list(stats)
    head = "| " + title + " | " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    row = "| | " + " | ".join(f"{float(stats[n]):.3f}" for n in names) + " |"
    return "\n".join([head, rule, row])
