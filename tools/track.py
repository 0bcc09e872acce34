#!/usr/bin/env python
"""`hrseg track` from a clone: the same entry point, hrseg/commands/track.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.track import *  # noqa: F401,F403  main and the module's names, for `import track`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
