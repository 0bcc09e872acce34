#!/usr/bin/env python
"""`hrseg infer seg` from a clone: the same entry point, hrseg/commands/infer_seg.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.infer_seg import *  # noqa: F401,F403  main and the module's names, for `import infer_seg`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
