#!/usr/bin/env python
"""`hrseg infer det` from a clone: the same entry point, hrseg/commands/infer_det.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.infer_det import *  # noqa: F401,F403  main and the module's names, for `import infer_det`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
