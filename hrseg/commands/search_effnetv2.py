"""EfficientNetV2's training-aware search over HRNet stages on the synthetic pose mini-split.

    hrseg search-effnetv2                                  # 8 sampled candidates + the comparison
    hrseg search-effnetv2 --samples 40 --epochs 20         # the longer search docs/efficientnet.md names
    hrseg search-effnetv2 --samples 24 --finalists 7 --final-epochs 18   # + the best 7 retrained 3x longer
    hrseg search-effnetv2 --candidates Bx2-Bx2-Bx2 F3e4x2-M3e4x2-M5e6x1 --no-compare
    hrseg search-effnetv2 --candidates F3e6x2-F3e4x1-F3e1x1 Bx3-Bx1-M3e4x1 ... --epochs 18 --no-compare \
        --rank-against work_dirs/search_effnetv2/search.json   # does the short schedule rank as a longer one?

Per stage 2-4: operation {BASIC, MBCONV, FUSED_MBCONV}, kernel {3, 5}, expansion {1, 4, 6},
blocks per branch {1, 2, 3}; each candidate trains the config's short schedule and is scored
A * S^w * P^v (w = -0.07, v = -0.05). Writes search.md/.json/.png and, unless --no-compare,
compare.md/.json (the winner beside pose_hrnet_w18_small_v2 and pose_mbhrnet_lite, same schedule)
to --work-dir; with --finalists K the best K by reward are retrained --final-epochs in --work-dir/final,
the winner is chosen among them and compared there (hrseg/experiments/effnetv2_search.py has the details).
Every trained candidate is kept in --work-dir/<name>/arm.json: the same command again retrains nothing.
"""
from __future__ import annotations

from hrseg.cli import CommandParser, non_negative_int, positive_int, seed_value
from hrseg.commands import shipped_config

import argparse
from hrseg.experiments import effnetv2_search as search
from hrseg.tasks.pose import load_pose_config


DEFAULT_CONFIG = "effnet/search_effnetv2.py"


def main(argv: list[str] | None = None) -> int:
    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=shipped_config(DEFAULT_CONFIG), help="pose config with the base layout")
    ap.add_argument("--samples", type=positive_int, default=8, help="candidates drawn from the space (default 8)")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--candidates", nargs="+", default=None, metavar="NAME",
                    help="train these instead of sampling, e.g. Bx2-M5e4x1-F3e1x2")
    ap.add_argument("--ops", nargs="+", default=list(search.OPS), choices=search.OPS)
    ap.add_argument("--kernels", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--expansions", type=int, nargs="+", default=[1, 4, 6])
    ap.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 3], help="blocks per branch to try")
    ap.add_argument("--epochs", type=positive_int, default=None, help="epochs per candidate (default: the config's)")
    ap.add_argument("--seed", type=seed_value, default=None, help="training seed (default: the config's)")
    ap.add_argument("--w", type=float, default=search.REWARD_W, help="step-time exponent (default -0.07)")
    ap.add_argument("--v", type=float, default=search.REWARD_V, help="parameter exponent (default -0.05)")
    ap.add_argument("--no-compare", action="store_true", help="skip training the comparison models")
    ap.add_argument("--finalists", type=non_negative_int, default=0, metavar="K",
                    help="retrain the best K by reward for --final-epochs and choose the winner among them")
    ap.add_argument("--final-epochs", type=positive_int, default=None, help="the finals' epochs (with --finalists)")
    ap.add_argument("--rank-against", default=None, metavar="SEARCH_JSON",
                    help="an earlier search.json: report Spearman's rho of AP and reward over the common candidates")
    ap.add_argument("--work-dir", default="work_dirs/search_effnetv2")
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    cfg = load_pose_config(args.config, args.cfg_options)
    space = search.SearchSpace(tuple(args.ops), tuple(args.kernels), tuple(args.expansions), tuple(args.blocks))
    candidates = [search.parse_candidate(c) for c in args.candidates] if args.candidates else None
    earlier = search.read_search(args.rank_against)["rows"] if args.rank_against else None
    result = search.run_search(cfg, args.work_dir, candidates, args.samples, args.sample_seed, space, args.epochs,
                               args.seed, args.w, args.v, earlier=earlier)
    work_dir, epochs = args.work_dir, args.epochs
    if args.finalists:
        if not args.final_epochs:
            ap.error("--finalists needs --final-epochs")
        result = search.run_finals(cfg, args.work_dir, result, args.finalists, args.final_epochs, args.seed,
                                   args.w, args.v)
        work_dir, epochs = f"{args.work_dir}/final", args.final_epochs
    if not args.no_compare:
        search.compare_with_named(cfg, work_dir, result, epochs, args.seed)
    return 0
