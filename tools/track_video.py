#!/usr/bin/env python
"""`hrseg track-video` from a clone: the same entry point, hrseg/commands/track_video.py (--help for options and examples)."""
import sys

from hrseg.cli import run_cli
from hrseg.commands.track_video import *  # noqa: F401,F403  main and the module's names, for `import track_video`

if __name__ == "__main__":
    sys.exit(run_cli(main))  # noqa: F405
