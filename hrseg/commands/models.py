"""The named models: parameters and GFLOPs at each family's usual input size.

    hrseg models                    # every named model, a row at a time (a few minutes on a CPU)
    hrseg models pose_hrnet         # those whose name contains pose_hrnet
    hrseg models --names            # the names only, at once

Counted by hrseg.utils.flops on the meta device (no weights, no compute): GFLOPs as the HRNet
papers give them (multiply-adds / 2^30) and GMACs (multiply-adds / 1e9); detectors (*) count
the backbone and neck, whose cost does not depend on the data.
"""
from __future__ import annotations

import argparse
import sys

from hrseg.cli import CommandParser
from hrseg.errors import ConfigError
from hrseg.models import list_models
from hrseg.benchmark import complexity_table


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("patterns", nargs="*", metavar="PATTERN", help="only models whose name contains one of these")
    ap.add_argument("--names", action="store_true", help="list the names only (no counting)")
    args = ap.parse_args(argv)

    names = [n for n in list_models() if not args.patterns or any(p in n for p in args.patterns)]
    if not names:
        raise ConfigError(f"no model name contains {' or '.join(args.patterns)}; `hrseg models --names` lists them")
    if args.names:
        print("\n".join(names))
        return 0

    for i, name in enumerate(names):  # one row at a time: the rows are the progress
        table = complexity_table([name]).splitlines()
        print("\n".join(table if i == 0 else table[2:]), flush=True)
    print(f"{len(names)} model(s)", file=sys.stderr)
    return 0
