"""COCO JSON files, read and validated once for every adapter (keypoints, instances,
detection results): one error naming the file and the record for anything malformed, worded by
what the record holds and what was expected."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from hrseg.errors import DataError


def load_json(path: Path, what: str) -> Any:
    """The JSON at ``path`` (``what`` names it in errors: "annotation", "detection results").
    A missing, truncated or corrupt file is one :class:`DataError` naming it."""
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from None


def require_fields(record: Any, fields: Sequence[str], path: Path, what: str) -> None:
    """``record`` is a JSON object with ``fields``; else a :class:`DataError` naming the file,
    the record (and its id) and the missing fields."""
    if not isinstance(record, dict):
        raise DataError(f"{path}: {what} is not a JSON object: {str(record)[:80]}")
    missing = [k for k in fields if k not in record]
    if missing:
        ident = f" id {record['id']}" if "id" in record else ""
        raise DataError(f"{path}: {what}{ident} lacks field(s) {', '.join(missing)}")


def is_numbers(value: Any, count: int | None = None) -> bool:
    """``value`` is a JSON list of finite numbers (``count`` of them, when given); true and false
    are not numbers. Plain ints and floats are summed at C speed (COCO's train file holds some
    20 million polygon coordinates); anything else, or a sum that is not finite, is looked at
    number by number."""
    if not (isinstance(value, (list, tuple)) and (count is None or len(value) == count)):
        return False
    try:
        if set(map(type, value)) <= {int, float} and math.isfinite(sum(value)):
            return True
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    except OverflowError:  # an integer past float's range
        return False


def shown(value: Any, limit: int = 60) -> str:
    """``value`` as the file spells it (JSON: a string keeps its quotes; anything else its repr),
    cut to ``limit`` characters."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


def listed(items: Sequence[Any], limit: int = 5) -> str:
    """The first ``limit`` items, then how many more: ``"790, 1000, 1268 and 12 more"``."""
    head = ", ".join(map(str, items[:limit]))
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


def coverage(what: str, missing: Sequence[Any], total: int, noun: str) -> str:
    """``"detections cover 4 of 21 images (none for 790, 1000, ... and 12 more)"``: how much of
    the ``total`` a file of per-image records covers, ``missing`` naming the rest."""
    return f"{what} cover {total - len(missing)} of {total} {noun} (none for {listed(missing)})"


def check_bbox(ann: Mapping[str, Any], path: Path) -> None:
    """An annotation's ``bbox`` is COCO's ``[x, y, width, height]``, four finite numbers with
    width and height >= 0; else one :class:`DataError` saying what it holds."""
    box = ann["bbox"]
    if not is_numbers(box, 4) or box[2] < 0 or box[3] < 0:
        raise DataError(f"{path}: annotation id {ann['id']} has bbox {shown(box)}; expected "
                        "[x, y, width, height], four finite numbers with width, height >= 0")


def check_keypoints(ann: Mapping[str, Any], num_joints: int, path: Path) -> None:
    """An annotation's ``keypoints`` are ``3 * num_joints`` finite numbers (x, y, visibility per
    keypoint); else one :class:`DataError` saying what they are."""
    values = ann["keypoints"]
    if not is_numbers(values, 3 * num_joints):
        got = f"{len(values)} keypoint values" if is_numbers(values) else f"keypoints {shown(values)}"
        raise DataError(f"{path}: annotation id {ann['id']} has {got}; expected a list of {3 * num_joints} "
                        f"numbers (x, y, visibility for each of its {num_joints} keypoints)")


def check_image_files(paths: Iterable[Path], ann_file: str | Path) -> None:
    """One :class:`DataError` listing the image files of ``ann_file`` not on disk (the first
    three and a count), so a run stops before its work, not at the first missing image."""
    missing = [str(p) for p in dict.fromkeys(paths) if not Path(p).is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DataError(f"{len(missing)} image file(s) of {ann_file} not found: {', '.join(missing[:3])}{more}")
