"""The shipped config files, found by name from any directory.

In a clone the recipes are the repository's top-level ``configs/``; in an installed wheel the
build copies that folder to ``hrseg/configs/`` (see ``setup.py``) with the same tree, so the
relative ``_base_`` paths inside the files resolve the same way in both layouts.

``find_config("hrnet_w32_coco_256x192")`` -> ``.../configs/pose/hrnet_w32_coco_256x192.py``.
An existing file is used as it is; otherwise the text is a config name, optionally with its
folder (``pose/synthetic_mini``), a ``.py`` suffix, or the repository spelling
``configs/pose/x.py`` (so the README's commands also work outside the clone). A name found in
several folders (``synthetic_mini``: pose and seg) is looked up in the current command's task
first (:func:`task_scope`, set by ``hrseg train pose`` and its siblings).
"""
from __future__ import annotations

import contextlib
import contextvars
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from hrseg.errors import ConfigError

# Which config folders hold the recipes of a task (effnet: the recipes of the EfficientNet ideas, pose
# and segmentation ones; hrseg.commands.configs lists each under its model's task).
TASK_FOLDERS: dict[str, tuple[str, ...]] = {"pose": ("pose", "effnet"), "seg": ("seg",), "det": ("det",),
                                           "multi": ("multi",)}
_TASK: contextvars.ContextVar[str | None] = contextvars.ContextVar("hrseg_config_task", default=None)


@dataclass(frozen=True)
class ConfigEntry:
    name: str    # file stem, e.g. hrnet_w32_coco_256x192
    folder: str  # its folder under configs/, e.g. pose, models, _base_/datasets, seg/mmseg
    path: Path

    def within(self, folders: Iterable[str]) -> bool:
        """Whether the file is in one of ``folders`` or below it (seg/mmseg is within seg)."""
        return any(self.folder == f or self.folder.startswith(f + "/") for f in folders)


def configs_root() -> Path:
    """The folder of the shipped configs: ``hrseg/configs`` when installed, else the clone's ``configs``."""
    package = Path(__file__).resolve().parent
    for root in (package / "configs", package.parent / "configs"):
        if root.is_dir():
            return root
    raise ConfigError(f"the shipped configs are missing: neither {package / 'configs'} nor "
                      f"{package.parent / 'configs'} exists (a broken install?)")


def list_configs(task: str | None = None, root: Path | None = None) -> list[ConfigEntry]:
    """Every config file (``_base_`` fragments included only when no task is given), sorted by
    folder and name; with ``task`` ('pose', 'seg', 'det' or a folder name) those of its folders and below."""
    root = root or configs_root()
    if task is not None and task not in TASK_FOLDERS and not (root / task).is_dir():
        raise ConfigError(f"unknown config task {task!r}; one of {', '.join(sorted(TASK_FOLDERS))}")
    folders = TASK_FOLDERS.get(task, (task,)) if task else None
    out = []
    for path in sorted(root.rglob("*.py")):
        entry = ConfigEntry(path.stem, path.parent.relative_to(root).as_posix(), path)
        if folders is None or entry.within(folders):
            out.append(entry)
    return sorted(out, key=lambda e: (e.folder, e.name))


@contextlib.contextmanager
def task_scope(task: str) -> Iterator[None]:
    """Within the block, config names are looked up in ``task``'s folders first."""
    token = _TASK.set(task)
    try:
        yield
    finally:
        _TASK.reset(token)


def find_config(name: str | os.PathLike, task: str | None = None, root: Path | None = None) -> Path:
    """An existing file as it is, else the shipped config called ``name`` (see the module docstring)."""
    path = Path(name)
    if path.is_file():
        return path
    root = root or configs_root()
    text = path.as_posix()
    text = text[len("configs/"):] if text.startswith("configs/") else text
    text = text[:-3] if text.endswith(".py") else text
    folder, _, stem = text.rpartition("/")
    entries = [e for e in list_configs(root=root) if not e.folder.startswith("_base_")]
    matches = [e for e in entries if e.name == stem and (not folder or e.folder == folder)]
    task = task or _TASK.get()
    if len(matches) > 1 and task in TASK_FOLDERS:
        matches = [e for e in matches if e.within(TASK_FOLDERS[task])] or matches
    if len(matches) == 1:
        return matches[0].path
    if matches:
        raise ConfigError(f"{name}: several shipped configs have this name: "
                          f"{', '.join(f'{e.folder}/{e.name}' for e in matches)}; give the folder too")
    close = difflib.get_close_matches(stem, sorted({e.name for e in entries}), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `hrseg configs` lists the shipped ones"
    raise ConfigError(f"{name}: config file not found, and no shipped config has this name{hint}")
