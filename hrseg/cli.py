"""Helpers shared by the command-line tools: argument types and clean error reporting."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from hrseg.errors import HrsegError


def parse_size(text: str) -> tuple[int, int]:
    """'256x192' -> (256, 192) as (height, width)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 256x192, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return h, w


def run_cli(main: Callable[[], int]) -> int:
    """Run a tool's ``main``: user errors become one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return main()
    except HrsegError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
