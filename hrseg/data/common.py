"""What the datasets of every task share: standing in for a training sample whose image cannot
be read (counted, warned about once, skipped by the collate functions)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)
_WARNED: set[str] = set()


@dataclass(frozen=True)
class SkippedSample:
    """Stands in for a training sample whose image could not be read."""

    path: str
    reason: str


def skip_sample(counter: Any, path: str, error: Exception) -> SkippedSample:
    """A training sample whose image could not be read: counted in ``counter`` (the dataset's
    shared ``num_skipped``), warned about once per file and process, and stood in for."""
    with counter.get_lock():
        counter.value += 1
    if path not in _WARNED:
        _WARNED.add(path)
        logger.warning("skipping training image: %s", error)
    return SkippedSample(path, str(error))
