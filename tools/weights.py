#!/usr/bin/env python
"""`hrseg weights` from a clone: the same entry point, hrseg/commands/weights.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.weights import *  # noqa: F401,F403  main and the module's names, for `import weights`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
