"""MOTChallenge tracking metrics (MOTA, IDF1, HOTA, ID switches) through a metrics library of
record: Roboflow ``trackers``' ``trackers.eval``, a re-implementation of TrackEval's CLEAR,
Identity and HOTA code that states TrackEval parity (docs/video.md shows both agree to the last
digit on our sequences). It is in the ``[track]`` extra (``pip install hrseg[track]``).

py-motmetrics 1.4 is not used: it calls ``np.asfarray``, removed in numpy 2.

:func:`evaluate_mot` reads both files with :func:`hrseg.data.mot.read_mot` first, so a bad line
is a :class:`~hrseg.errors.DataError` naming the file and line, then hands them to the library.
An id twice in one frame (results or ground truth) is such an error too: TrackEval refuses the
file, and the library would score it inconsistently (CLEAR and HOTA count the second box,
Identity drops it).
Ground truth follows MOTChallenge: a line counts when its consider flag (column 7) is not 0 and
its class (column 8) is 1 (pedestrian); a line without a class (no column 8, or -1 there as in
results files) counts.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Mapping

from hrseg.data.mot import MotBox, read_mot, write_mot
from hrseg.errors import DataError, missing_tracking

__all__ = ["METRIC_NAMES", "evaluate_mot", "format_metrics"]

# (key, column title, is a fraction shown as a percentage)
METRIC_NAMES = (("HOTA", "HOTA", True), ("IDF1", "IDF1", True), ("MOTA", "MOTA", True), ("IDSW", "ID sw.", False),
                ("DetA", "DetA", True), ("AssA", "AssA", True), ("IDP", "IDP", True), ("IDR", "IDR", True),
                ("FP", "FP", False), ("FN", "FN", False), ("MOTP", "MOTP", True))


def _unclassed(box: MotBox) -> bool:
    """A ground-truth line without a class: no eighth column, or -1 there (the results format)."""
    return not box.rest or box.rest[0] == -1


def _with_class(path: Path, boxes: list[MotBox], tmp: Path) -> Path:
    """Ground truth (``boxes``, read from ``path``) as trackers.eval reads it: a line without a
    class counts as a pedestrian (the file is rewritten to ``tmp`` when any line lacks one)."""
    if not boxes:
        raise DataError(f"{path}: no boxes in this ground-truth file")
    if not any(_unclassed(b) for b in boxes):
        return path
    return write_mot(tmp, [replace(b, rest=(1.0, 1.0)) if _unclassed(b) else b for b in boxes], results=False)


def evaluate_mot(gt: str | os.PathLike, results: str | os.PathLike, iou_threshold: float = 0.5) -> dict[str, float]:
    """MOTChallenge metrics of ``results`` against ``gt`` (both MOTChallenge files): HOTA, DetA,
    AssA (fractions, averaged over IoU 0.05..0.95), IDF1, IDP, IDR, MOTA, MOTP (fractions at
    ``iou_threshold``), IDSW, FP, FN and the frame count."""
    try:  # optional extra [track]
        from trackers.eval import evaluate_mot_sequence
    except ImportError as e:
        raise missing_tracking() from e
    gt_path, res_path = Path(gt), Path(results)
    gt_boxes = read_mot(gt_path, unique_ids=True)
    if not read_mot(res_path, unique_ids=True):  # nothing tracked (the library refuses an empty file): all missed
        considered = [b for b in gt_boxes if b.score != 0 and (_unclassed(b) or b.rest[0] == 1)]
        zero = dict.fromkeys(("HOTA", "DetA", "AssA", "IDF1", "IDP", "IDR", "MOTA", "MOTP"), 0.0)
        return {**zero, "IDSW": 0, "FP": 0, "FN": len(considered),
                "frames": max((b.frame for b in considered), default=0)}
    with tempfile.TemporaryDirectory() as tmp:
        result = evaluate_mot_sequence(_with_class(gt_path, gt_boxes, Path(tmp) / "gt.txt"), res_path,
                                       metrics=["CLEAR", "HOTA", "Identity"], threshold=iou_threshold)
    clear, hota, ident = result.CLEAR, result.HOTA, result.Identity
    return {"HOTA": hota.HOTA, "DetA": hota.DetA, "AssA": hota.AssA, "IDF1": ident.IDF1, "IDP": ident.IDP,
            "IDR": ident.IDR, "MOTA": clear.MOTA, "MOTP": clear.MOTP, "IDSW": int(clear.IDSW),
            "FP": int(clear.CLR_FP), "FN": int(clear.CLR_FN), "frames": int(clear.CLR_Frames)}


def format_metrics(rows: Mapping[str, Mapping[str, float]]) -> str:
    """A Markdown table: one row per named result, the columns of :data:`METRIC_NAMES`."""
    head = "| | " + " | ".join(title for _, title, _ in METRIC_NAMES) + " |"
    lines = [head, "|---|" + "---:|" * len(METRIC_NAMES)]
    for name, m in rows.items():
        cells = [f"{100 * m[k]:.1f}" if pct else f"{int(m[k])}" for k, _, pct in METRIC_NAMES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
