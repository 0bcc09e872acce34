#!/usr/bin/env python
"""`hrseg bench-train` from a clone: the same entry point, hrseg/commands/bench_train.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.bench_train import *  # noqa: F401,F403  main and the module's names, for `import bench_train`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
