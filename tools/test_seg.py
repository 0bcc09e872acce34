#!/usr/bin/env python
"""`hrseg test seg` from a clone: the same entry point, hrseg/commands/test_seg.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.test_seg import *  # noqa: F401,F403  main and the module's names, for `import test_seg`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
