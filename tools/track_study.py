#!/usr/bin/env python
"""`hrseg track-study` from a clone: the same entry point, hrseg/commands/track_study.py (--help for options)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.track_study import *  # noqa: F401,F403  main and the module's names, for `import track_study`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
