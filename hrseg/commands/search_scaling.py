"""Grid search of the compound-scaling coefficients (EfficientNet's step 1) on a pose mini-split.

    hrseg search-scaling                         # synthetic mini-split, 3 candidates, ~10 min
    hrseg search-scaling --alphas 1.0 1.2 1.4 --betas 1.0 1.1 1.2 --epochs 10
    hrseg search-scaling --family 0 1 2          # then: train b0, b1, b2 of the chosen rule

The search itself is hrseg/experiments/scaling_search.py (its docstring says what it does and writes).
"""
from __future__ import annotations

from hrseg.cli import CommandParser, positive_int, seed_value
from hrseg.commands import shipped_config

import argparse
from hrseg.experiments.scaling_search import run_search


DEFAULT_CONFIG = "effnet/search_synthetic.py"


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=shipped_config(DEFAULT_CONFIG),
                    help="pose config whose model is the base (default: configs/effnet/search_synthetic.py)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[1.0, 1.2, 1.4],
                    help="depth coefficients to try (default 1.0 1.2 1.4)")
    ap.add_argument("--betas", type=float, nargs="+", default=[1.1],
                    help="width coefficients to try (default 1.1: with the alphas, three candidates that "
                         "trade depth against resolution, about ten minutes on 2 CPU cores)")
    ap.add_argument("--epochs", type=positive_int, default=None,
                    help="epochs per candidate (default: the config's; its lr milestones are scaled to match)")
    ap.add_argument("--max-candidates", type=positive_int, default=None, help="train only the first N candidates")
    ap.add_argument("--with-base", action="store_true", help="also train the base (phi = 0) as a reference")
    ap.add_argument("--family", type=int, nargs="*", default=None, metavar="PHI",
                    help="after the search (or with --skip-search, for the built-in coefficients), "
                         "train the base scaled at these phis and plot AP against GFLOPs")
    ap.add_argument("--skip-search", action="store_true",
                    help="use hrseg's EFF_COEFFICIENTS, no grid search (--family reuses the runs of an earlier "
                         "search in the same --work-dir)")
    ap.add_argument("--min-ap", type=float, default=0.05,
                    help="a candidate must reach this AP to replace the built-in coefficients (default 0.05)")
    ap.add_argument("--work-dir", default="work_dirs/search_scaling")
    ap.add_argument("--seed", type=seed_value, default=None)
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                    help="more overrides for every run, e.g. data.num_workers=0")
    args = ap.parse_args(argv)

    run_search(args.config, args.alphas, args.betas, args.epochs, args.max_candidates, args.with_base, args.family,
               args.skip_search, args.min_ap, args.work_dir, args.seed, args.cfg_options)
    return 0
