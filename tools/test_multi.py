#!/usr/bin/env python
"""`hrseg test multi` from a clone: the same entry point, hrseg/commands/test_multi.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.test_multi import *  # noqa: F401,F403  main and the module's names, for `import test_multi`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
