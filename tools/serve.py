#!/usr/bin/env python
"""`hrseg serve` from a clone: the same entry point, hrseg/commands/serve.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.serve import *  # noqa: F401,F403  main and the module's names, for `import serve`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
