"""Load a running service (tools/serve.py) and print p50 / p99 latency, throughput and errors.

    hrseg load-test --url http://127.0.0.1:8000/v1/pose --image photo.jpg --clients 16 --requests 160
Closed loop: each client sends its next request when the last is answered. Every request is
counted: ok (2xx), refused by the queue limit (429), another status, or failed (connection error,
timeout). --out writes the figures as JSON. Loopback addresses only unless --allow-remote.
"""
from __future__ import annotations

import argparse

from hrseg.cli import CommandParser
from hrseg.serve.loadtest import format_line, run_load_test
from hrseg.utils.io import write_json


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000/v1/pose", help="the route to load")
    ap.add_argument("--image", required=True, help="the JPEG, PNG or WebP file every request sends")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (1-256)")
    ap.add_argument("--requests", type=int, default=64, help="requests in all (1-100000)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before a request counts as failed")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --url")
    args = ap.parse_args(argv)
    result = run_load_test(args.url, args.image, args.clients, args.requests, args.timeout, args.allow_remote)
    print(format_line(result))
    if args.out:
        write_json(args.out, result)
    return 0 if result["lost"] == 0 else 1
