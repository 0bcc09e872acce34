#!/usr/bin/env python
"""`hrseg export` from a clone: the same entry point, hrseg/commands/export.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.export import *  # noqa: F401,F403  main and the module's names, for `import export`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
