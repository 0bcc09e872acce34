"""What a model's name says: its task is its prefix (``pose_``, ``seg_``, ``det_``, ``multi_``).

The registry's entries follow the rule (:func:`hrseg.models.registry.register_model` refuses one
that does not), so the commands that must not import every model to answer (``hrseg configs``,
``hrseg --help``), the export and the benchmarks read a model's task here, from its name alone,
and get what ``model_info(name).task`` says.
"""
from __future__ import annotations

TASK_PREFIXES = ("pose", "seg", "det", "multi")


def task_of_name(name: str) -> str | None:
    """``pose`` | ``seg`` | ``det`` | ``multi`` from a model name; None for a backbone, a neck or
    a name of no task."""
    kind = str(name).split("_", 1)[0]
    return kind if kind in TASK_PREFIXES else None
