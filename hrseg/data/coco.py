"""COCO JSON files, read and validated once for every adapter (keypoints, instances,
detection results): one error naming the file and the record for anything malformed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

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
