"""COCO keypoint AP/AR with pycocotools, under the official HRNet stat names.

``evaluate_keypoints`` runs ``COCOeval(gt, dt, 'keypoints')`` (COCO's own OKS sigmas and
rules: crowd regions and people without keypoints are ignored) and returns its 10 stats.
pycocotools reports -1 for a stat with no ground truth (e.g. no medium people); that is kept.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hrseg.data.coco_keypoints import load_coco_keypoints
from hrseg.errors import DataError

__all__ = ["STAT_NAMES", "evaluate_keypoints", "format_table"]

STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)",
              "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
_RESULT_FIELDS = ("image_id", "category_id", "keypoints", "score")


def _load_results(results: str | os.PathLike | Sequence[dict], gt: COCO) -> tuple[list[dict], str]:
    if isinstance(results, (str, os.PathLike)):
        path = Path(results)
        if not path.is_file():
            raise DataError(f"{path}: keypoint results file not found")
        try:
            dets = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from None
        name = str(path)
    else:
        dets, name = list(results), "keypoint results"
    if not isinstance(dets, list):
        raise DataError(f"{name}: expected a JSON list of keypoint results")
    for det in dets:
        missing = [k for k in _RESULT_FIELDS if not isinstance(det, dict) or k not in det]
        if missing:
            raise DataError(f"{name}: a result lacks field(s) {', '.join(missing)}: "
                            f"{str(det)[:80]}")
        if det["image_id"] not in gt.imgs:
            raise DataError(f"{name}: result for image id {det['image_id']}, which is not in "
                            "the ground truth")
    return dets, name


def evaluate_keypoints(gt: str | os.PathLike | COCO,
                       results: str | os.PathLike | Sequence[dict],
                       img_ids: Iterable[int] | None = None, verbose: bool = True
                       ) -> dict[str, float]:
    """COCO keypoint stats of ``results`` (a results JSON or its list of dicts) against ``gt``
    (a person_keypoints JSON or a loaded ``COCO``), on ``img_ids`` (default: all images).

    Returns ``{name: value}`` for :data:`STAT_NAMES`; prints a table when ``verbose``. Empty
    results give zeros with a warning.
    """
    coco = gt if isinstance(gt, COCO) else load_coco_keypoints(gt)
    dets, name = _load_results(results, coco)
    if not dets:
        warnings.warn(f"{name}: no keypoint results to evaluate; every stat is 0", stacklevel=2)
        stats = {k: 0.0 for k in STAT_NAMES}
    else:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco_dt = coco.loadRes([dict(d) for d in dets])  # loadRes edits its input
            ev = COCOeval(coco, coco_dt, "keypoints")
            if img_ids is not None:
                ev.params.imgIds = sorted(int(i) for i in img_ids)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        stats = {k: float(v) for k, v in zip(STAT_NAMES, np.asarray(ev.stats))}
    if verbose:
        print(format_table(stats))
    return stats


def format_table(stats: dict[str, Any], title: str = "keypoints") -> str:
    """A markdown table of the stats, as the official ``_print_name_value``."""
    names = list(stats)
    head = "| " + title + " | " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    row = "| | " + " | ".join(f"{float(stats[n]):.3f}" for n in names) + " |"
    return "\n".join([head, rule, row])
