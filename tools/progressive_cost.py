#!/usr/bin/env python
"""`hrseg progressive-cost` from a clone: the same entry point, hrseg/commands/progressive_cost.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.progressive_cost import *  # noqa: F401,F403  main and the module's names, for `import progressive_cost`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
