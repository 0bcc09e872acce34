"""Published weights by name: list them, download one into the cache, verify a file.

    hrseg weights list [PATTERN] [--model pose_hrnet_w32]
    hrseg weights download pose_hrnet_w32.mmpose1x_coco_256x192
    hrseg weights verify ~/Downloads/hrnet_w32-36af842e.pth
    hrseg weights docs            # rewrite docs/weights.md of this source clone from the table
    hrseg weights docs --out weights.md   # write the page elsewhere (an installed hrseg has no docs/)
The cache is $HRSEG_HOME/weights (default <torch hub dir>/hrseg/weights).
"""
from __future__ import annotations

import argparse
import json

from hrseg.cli import CommandParser
from hrseg import weights
from hrseg.errors import ConfigError
from hrseg.weights import docs


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the published checkpoints")
    ls.add_argument("pattern", nargs="?", default="", help="only names containing this")
    ls.add_argument("--model", default=None, help="only weights this model can load (e.g. pose_hrnet_w32)")
    dl = sub.add_parser("download", help="download NAME into the cache (nothing happens if it is there)")
    dl.add_argument("name", help="a full name from `list` (or a tag with --model)")
    dl.add_argument("--model", default=None, help="the model a tag is for")
    vf = sub.add_parser("verify", help="what a file is: hash (against the table), layout, tensors")
    vf.add_argument("file")
    dc = sub.add_parser("docs", help="rewrite docs/weights.md of the source clone (or --out FILE) from the table")
    dc.add_argument("--out", default=None, metavar="FILE", help="write the page here instead")
    args = ap.parse_args(argv)

    if args.command == "list":
        listing = docs.format_list(args.pattern, args.model)  # an unknown --model: a ConfigError naming it
        if not listing:
            which = " and ".join(([f"containing {args.pattern!r}"] if args.pattern else [])
                                 + ([f"for {args.model}"] if args.model else []))
            raise ConfigError(f"no published weights {which}; `hrseg weights list` lists them all")
        print(listing)
    elif args.command == "download":
        print(weights.resolve(args.name, args.model))
    elif args.command == "verify":
        result = weights.verify(args.file)
        print(json.dumps(result, indent=2))
        return 1 if result.get("hash_ok") is False else 0
    else:
        print(docs.write_docs(args.out))
    return 0
