#!/usr/bin/env python
"""`hrseg bench-multi` from a clone: the same entry point, hrseg/commands/bench_multi.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.bench_multi import *  # noqa: F401,F403  main and the module's names, for `import bench_multi`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
