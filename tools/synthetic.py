#!/usr/bin/env python
"""`hrseg synthetic` from a clone: the same entry point, hrseg/commands/synthetic.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.synthetic import *  # noqa: F401,F403  main and the module's names, for `import synthetic`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
