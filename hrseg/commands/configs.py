"""The shipped config files, by task; any of these names is a CONFIG for hrseg train/test/infer.

    hrseg configs                  # all recipes (pose, seg, det, effnet, models)
    hrseg configs pose             # those `hrseg train pose NAME` finds
    hrseg configs seg --paths      # with the file each name stands for
"""
from __future__ import annotations

import argparse

from hrseg.configs_index import TASK_FOLDERS, configs_root, list_configs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", nargs="?", choices=sorted(TASK_FOLDERS), help="only this task's recipes")
    ap.add_argument("--paths", action="store_true", help="also print each config's file")
    args = ap.parse_args(argv)
    entries = [e for e in list_configs(args.task) if not e.folder.startswith("_base_")]
    print(f"configs in {configs_root()}:")
    folder = None
    for e in entries:
        if e.folder != folder:
            folder = e.folder
            print(f"{folder}/")
        print(f"  {e.name}" + (f"  {e.path}" if args.paths else ""))
    return 0
