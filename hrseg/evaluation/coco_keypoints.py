"""COCO keypoint AP/AR with pycocotools, under the official HRNet stat names.

``evaluate_keypoints`` runs ``COCOeval(gt, dt, 'keypoints')`` (COCO's own OKS sigmas and
rules: crowd regions and people without keypoints are ignored) and returns its 10 stats.
pycocotools reports -1 for a stat with no ground truth (e.g. no medium people); that is kept.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO

from hrseg.data.pose.coco_keypoints import load_coco_keypoints
from hrseg.errors import DataError
from hrseg.evaluation.coco_eval import format_table, load_results, run_cocoeval

__all__ = ["STAT_NAMES", "evaluate_keypoints", "format_table"]

STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)",
              "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
_RESULT_FIELDS = ("image_id", "category_id", "keypoints", "score")


def _keypoints_check(coco: COCO) -> Callable[[dict, str], None]:
    """A result's ``keypoints``: (x, y, score) of every keypoint of its category, finite numbers.
    pycocotools takes any list: NaNs matched every person (AP 1.0), three values were broadcast
    over the 17 keypoints, 34 failed deep inside it."""
    def check(det: dict, name: str) -> None:
        k = len(coco.cats[det["category_id"]].get("keypoints") or [])
        try:
            values = np.asarray(det["keypoints"], dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is None or values.shape != (3 * k,) or not np.isfinite(values).all():
            raise DataError(f"{name}: the keypoints of a result for image id {det['image_id']} are not {k} x "
                            f"(x, y, score), {3 * k} finite numbers: {str(det['keypoints'])[:60]}")
    return check


def evaluate_keypoints(gt: str | os.PathLike | COCO,
                       results: str | os.PathLike | Sequence[dict],
                       img_ids: Iterable[int] | None = None, verbose: bool = True,
                       sigmas: Sequence[float] | None = None) -> dict[str, float]:
    """COCO keypoint stats of ``results`` (a results JSON or its list of dicts) against ``gt``
    (a person_keypoints JSON or a loaded ``COCO``), on ``img_ids`` (default: all images).

    Returns ``{name: value}`` for :data:`STAT_NAMES`; prints a table when ``verbose``. Empty
    results score as pycocotools scores them (0, -1 where there is no ground truth), with a logged
    warning. ``sigmas``: the OKS sigmas of a keypoint set other than
    COCO's person (pycocotools' default).
    """
    coco = gt if isinstance(gt, COCO) else load_coco_keypoints(gt)
    dets, name = load_results(results, coco, _RESULT_FIELDS, "keypoint results", _keypoints_check(coco))
    stats = run_cocoeval(coco, dets, name, "keypoints", STAT_NAMES, img_ids, what="keypoint results",
                         sigmas=sigmas)
    if verbose:
        print(format_table(stats))
    return stats
