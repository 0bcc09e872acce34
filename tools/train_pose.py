#!/usr/bin/env python
"""`hrseg train pose` from a clone: the same entry point, hrseg/commands/train_pose.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.train_pose import *  # noqa: F401,F403  main and the module's names, for `import train_pose`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
