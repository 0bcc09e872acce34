"""The shipped config files, by task; any of these names is a CONFIG for hrseg train/test/infer.

    hrseg configs                  # all recipes (pose, seg, det, effnet, models)
    hrseg configs pose             # those `hrseg train pose NAME` finds
    hrseg configs seg --paths      # with the file each name stands for
"""
from __future__ import annotations

import argparse

from hrseg.cli import CommandParser
from hrseg.config import load_config
from hrseg.configs_index import TASK_FOLDERS, ConfigEntry, configs_root, list_configs
from hrseg.meta.model_names import task_of_name


def config_task(entry: ConfigEntry) -> str | None:
    """The task a shipped config is for: its folder's when the folder is named after a task
    (pose/, seg/, det/, multi/); in a folder shared by tasks (effnet/: pose and segmentation
    studies) its model's, which its name says (``seg_hrnetv2_w18_small_v1``: seg,
    :func:`~hrseg.meta.model_names.task_of_name`). None for neither (a bare backbone's config)."""
    if entry.folder in TASK_FOLDERS:
        return entry.folder
    model = load_config(entry.path).get("model")
    return task_of_name(model.get("name", "") if isinstance(model, dict) else "")


def task_configs(task: str) -> list[ConfigEntry]:
    """The recipes of ``task`` in the folders that hold recipes (:data:`TASK_FOLDERS`), each
    listed under the task it belongs to (:func:`config_task`), sorted by folder and name."""
    folders = {f for fs in TASK_FOLDERS.values() for f in fs}
    return [e for e in list_configs() if e.within(folders) and config_task(e) == task]


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", nargs="?", choices=sorted(TASK_FOLDERS), help="only this task's recipes")
    ap.add_argument("--paths", action="store_true", help="also print each config's file")
    args = ap.parse_args(argv)
    entries = task_configs(args.task) if args.task else [e for e in list_configs() if not e.folder.startswith("_base_")]
    print(f"configs in {configs_root()}:")
    folder = None
    for e in entries:
        if e.folder != folder:
            folder = e.folder
            print(f"{folder}/")
        print(f"  {e.name}" + (f"  {e.path}" if args.paths else ""))
    return 0
