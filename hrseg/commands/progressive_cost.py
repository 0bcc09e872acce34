"""What progressive learning saves at a real training size: the step cost of each stage.

    hrseg progressive-cost pose_hrnet_w32 --input-size 256x192 --batch 16
    hrseg progressive-cost seg_hrnetv2_w18 --input-size 512x1024 --batch 2 --out seg_cost.json

Per stage of the progressive schedule (sizes and regularization from --config's ``progressive``
section; default: the study's, configs/effnet/progressive_synthetic*.py): the model's training step
at the stage's input size, RandAugment over the batch and Mixup of the batch, on random data; and
the epoch cost of the study's arms b, c and d relative to fixed size (a). Run it on a quiet
machine; hrseg/experiments/progressive_cost.py has the details.
"""
from __future__ import annotations

import argparse

from hrseg.cli import CommandParser, parse_size, positive_int
from hrseg.commands import shipped_config
from hrseg.commands.progressive_experiment import DEFAULT_CONFIGS
import hrseg
from hrseg.config import load_config
from hrseg.meta.model_names import task_of_name
from hrseg.experiments.progressive_cost import cost_table, stage_costs
from hrseg.utils.io import write_json


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model name, e.g. pose_hrnet_w32 or seg_hrnetv2_w18")
    ap.add_argument("--input-size", type=parse_size, required=True, help="the final (training) size, HxW")
    ap.add_argument("--batch", type=positive_int, default=16)
    ap.add_argument("--config", default=None, help="a config whose progressive section gives the stages")
    ap.add_argument("--iters", type=positive_int, default=5, help="timed repetitions (the fastest counts)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", default=None, help="write the result as JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    task = task_of_name(args.model)
    if task not in DEFAULT_CONFIGS:
        raise hrseg.ConfigError(f"{args.model}: progressive learning is measured for pose_* and seg_* models")
    config = args.config or shipped_config(DEFAULT_CONFIGS[task])
    progressive = load_config(config).get("progressive")
    if not progressive:
        raise hrseg.ConfigError(f"{config}: no progressive section to take the stages from")
    model = hrseg.build_model(args.model)
    result = stage_costs(model, args.input_size, args.batch, progressive, iters=args.iters)
    result.update(model=args.model, input_size=list(args.input_size), progressive=progressive)
    print(f"{args.model}, final size {args.input_size[0]}x{args.input_size[1]}")
    print(cost_table(result))
    if args.out:
        write_json(args.out, result)
    return 0
