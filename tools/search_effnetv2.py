#!/usr/bin/env python
"""`hrseg search-effnetv2` from a clone: the same entry point, hrseg/commands/search_effnetv2.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.search_effnetv2 import *  # noqa: F401,F403  main and the module's names, for `import search_effnetv2`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
