#!/usr/bin/env python
"""`hrseg test pose` from a clone: the same entry point, hrseg/commands/test_pose.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.test_pose import *  # noqa: F401,F403  main and the module's names, for `import test_pose`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
