#!/usr/bin/env python
"""`hrseg load-test` from a clone: the same entry point, hrseg/commands/load_test.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.load_test import *  # noqa: F401,F403  main and the module's names, for `import load_test`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
