#!/usr/bin/env python
"""`hrseg bench-seg-memory` from a clone: the same entry point, hrseg/commands/bench_seg_memory.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.bench_seg_memory import *  # noqa: F401,F403  main and the module's names, for `import benchmark_seg_memory`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
