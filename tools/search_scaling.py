#!/usr/bin/env python
"""`hrseg search-scaling` from a clone: the same entry point, hrseg/commands/search_scaling.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.search_scaling import *  # noqa: F401,F403  main and the module's names, for `import search_scaling`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
