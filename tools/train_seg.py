#!/usr/bin/env python
"""`hrseg train seg` from a clone: the same entry point, hrseg/commands/train_seg.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.train_seg import *  # noqa: F401,F403  main and the module's names, for `import train_seg`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
