"""Grid search of the compound-scaling coefficients (EfficientNet's step 1) on a pose mini-split.

    hrseg search-scaling                         # synthetic mini-split, 3 candidates, ~10 min
    hrseg search-scaling --alphas 1.0 1.2 1.4 --betas 1.0 1.1 1.2 --epochs 10
    hrseg search-scaling --family 0 1 2          # then: train b0, b1, b2 of the chosen rule
    python tools/search_scaling.py ...           # the same command, from a clone

At ``phi = 1`` every (alpha, beta) of the grid with ``gamma = sqrt(2 / (alpha * beta^2)) >= 1``
(so that ``alpha * beta^2 * gamma^2 = 2``: the same FLOPs budget, twice the base) scales the
config's base network (``model`` of the config, a ``pose_scalable_hrnet``; its input size is
``data.input_size``); the heatmaps stay at stride 4 and their Gaussian's sigma grows with the
resolution. Every candidate then trains the same short schedule on the same data and is
evaluated (COCO AP on the val split). A candidate also has to keep the named family's steps
(``pose_effhrnet_b0..b4`` built from ``hrseg.models.scaling.EFF_BASE``) within 15% of doubling the
multiply-adds; the best AP among those is the choice.

Writes ``<work-dir>/scaling_search.json`` and ``scaling_search.md`` (one row per candidate,
measured params and GFLOPs), and with ``--family`` also ``family.json`` / ``family.md`` /
``family.png`` (AP against GFLOPs of the scaled models). Timings are wall-clock on whatever the
machine is doing at the same time.
"""
from __future__ import annotations

import argparse
import inspect
import itertools
import math
import time
from pathlib import Path
from typing import Any

import torch

from hrseg.commands import for_task, home_path, in_home
from hrseg.errors import ConfigError
from hrseg.models.scaling import (
    EFF_BASE, EFF_COEFFICIENTS, ScalableHRNet, ScalingCoefficients, network_from_options, scale_network,
)
from hrseg.utils.flops import measure_complexity
from hrseg.utils.io import atomic_path, save_figure, write_json

DEFAULT_CONFIG = "effnet/search_synthetic.py"  # under configs/


def candidates(alphas: list[float], betas: list[float], target: float = 2.0) -> list[ScalingCoefficients]:
    """Every (alpha, beta) with ``gamma = sqrt(target / (alpha beta^2)) >= 1``, gamma to 3 decimals."""
    out = []
    for a, b in itertools.product(alphas, betas):
        if a < 1 or b < 1:
            raise ConfigError(f"--alphas and --betas must be >= 1, got {a}, {b}")
        g = math.sqrt(target / (a * b * b))
        if g >= 1.0:
            out.append(ScalingCoefficients(a, b, round(g, 3)))
    if not out:
        raise ConfigError("no (alpha, beta) of the grid leaves gamma >= 1: use smaller values")
    return out


def gflops(net: ScalableHRNet, size: tuple[int, int] | None = None) -> tuple[int, float]:
    """Params and GFLOPs (multiply-adds / 2^30) of the pose model on ``net``, on the meta device."""
    from hrseg.models.scaling import build_pose_network

    with torch.device("meta"):
        model = build_pose_network(net)
    c = measure_complexity(model, size or net.input_size)
    return c.params, c.gflops_paper


def family_steps(coefficients: ScalingCoefficients, base: ScalableHRNet = EFF_BASE, phis=range(5)) -> list[float]:
    """The ratios of consecutive models' multiply-adds of the family ``coefficients`` build."""
    flops = [gflops(scale_network(base, coefficients, phi))[1] for phi in phis]
    return [b / a for a, b in zip(flops, flops[1:])]


def model_options(net: ScalableHRNet) -> dict[str, Any]:
    return dict(name="pose_scalable_hrnet", width=net.width, modules=list(net.modules), blocks=list(net.blocks),
                stage1_blocks=net.stage1_blocks, stage1_planes=net.stage1_planes, stem_width=net.stem_width,
                block=net.block, block_options=dict(net.block_options), fusion=net.fusion,
                input_size=list(net.input_size))


def train_network(config: str, net: ScalableHRNet, base: ScalableHRNet, sigma: float, work_dir: Path,
                  epochs: int | None, seed: int | None, extra: list[str],
                  model_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the config with ``net`` at its input size; returns AP, wall time and the sizes."""
    from hrseg.tasks.pose import load_pose_config, train

    h, w = net.input_size
    cfg = load_pose_config(config, extra)
    cfg["model"] = {**model_options(net), **(model_extra or {})}  # e.g. init, norm: the same for all
    cfg["data"].update(input_size=[h, w], heatmap_size=[h // 4, w // 4],
                       sigma=round(sigma * h / base.input_size[0], 3))
    cfg["work_dir"] = str(work_dir)
    if epochs is not None:  # the schedule's milestones move with the length
        ratio = epochs / cfg["train"]["max_epochs"]
        if cfg["schedule"].get("milestones"):
            cfg["schedule"]["milestones"] = [max(1, round(m * ratio)) for m in cfg["schedule"]["milestones"]]
        cfg["train"].update(max_epochs=epochs, eval_interval=epochs)
    if seed is not None:
        cfg["seed"] = seed
    start = time.perf_counter()
    metrics = train(in_home(cfg))
    params, gf = gflops(net)
    return {"AP": float(metrics.get("AP", float("nan"))), "train_s": time.perf_counter() - start,
            "params": params, "gflops": gf, "input_size": [h, w], "width": net.width,
            "modules": list(net.modules), "blocks": list(net.blocks), "epochs": cfg["train"]["max_epochs"]}


def signature(net: ScalableHRNet) -> str:
    """What makes two trainings the same: the layout and the input size."""
    return (f"C{net.width} m{list(net.modules)} b{list(net.blocks)} s{net.stem_width}/{net.stage1_planes} "
            f"{net.block} {dict(net.block_options)} {net.fusion} {list(net.input_size)}")


def markdown(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(fmt.format(**row) for _, fmt in columns) + " |")
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def plot_family(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r["gflops"] for r in rows], [r["AP"] for r in rows], "o-")
    for r in rows:
        ax.annotate(r["name"], (r["gflops"], r["AP"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("GFLOPs (multiply-adds / 2^30) at each model's input size")
    ax.set_ylabel("AP (synthetic val)")
    ax.set_title("compound-scaled HRNet family")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


@for_task("pose")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                    help="pose config whose model is the base (default: configs/effnet/search_synthetic.py)")
    ap.add_argument("--alphas", type=float, nargs="+", default=[1.0, 1.2, 1.4],
                    help="depth coefficients to try (default 1.0 1.2 1.4)")
    ap.add_argument("--betas", type=float, nargs="+", default=[1.1],
                    help="width coefficients to try (default 1.1: with the alphas, three candidates that "
                         "trade depth against resolution, about ten minutes on 2 CPU cores)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs per candidate (default: the config's; its lr milestones are scaled to match)")
    ap.add_argument("--max-candidates", type=int, default=None, help="train only the first N candidates")
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
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                    help="more overrides for every run, e.g. data.num_workers=0")
    args = ap.parse_args(argv)

    from hrseg.tasks.pose import load_pose_config

    cfg = load_pose_config(args.config)
    model = dict(cfg["model"])
    if model.pop("name", None) != "pose_scalable_hrnet":
        raise ConfigError(f"{args.config}: the search needs model.name = 'pose_scalable_hrnet' (the base layout)")
    layout_keys = set(inspect.signature(network_from_options).parameters)
    model_extra = {k: model.pop(k) for k in list(model) if k not in layout_keys}  # init, norm, num_joints...
    base = network_from_options(**model, input_size=cfg["data"]["input_size"])
    sigma = float(cfg["data"]["sigma"])
    out = home_path(args.work_dir)
    base_params, base_gflops = gflops(base)
    print(f"base: {base}\n  {base_params / 1e6:.2f}M params, {base_gflops:.3f} GFLOPs at "
          f"{base.input_size[0]}x{base.input_size[1]}")

    chosen = EFF_COEFFICIENTS
    if not args.skip_search:
        grid = candidates(args.alphas, args.betas)[: args.max_candidates]
        rows: list[dict[str, Any]] = []
        if args.with_base:
            r = train_network(args.config, base, base, sigma, out / "base", args.epochs, args.seed, args.cfg_options,
                              model_extra)
            rows.append({"name": "base (phi 0)", "alpha": 1.0, "beta": 1.0, "gamma": 1.0, "factor": 1.0,
                         "steps": "-", "valid": True, "signature": signature(base), **r})
        for c in grid:
            name = f"a{c.alpha:g}_b{c.beta:g}_g{c.gamma:g}"
            net = scale_network(base, c, 1)
            steps = family_steps(c)
            r = train_network(args.config, net, base, sigma, out / name, args.epochs, args.seed, args.cfg_options,
                              model_extra)
            rows.append({"name": name, "alpha": c.alpha, "beta": c.beta, "gamma": c.gamma,
                         "factor": c.flops_factor, "steps": " ".join(f"{s:.2f}" for s in steps),
                         "valid": all(abs(s - 2) <= 0.3 for s in steps), "signature": signature(net), **r})
            print(f"{name}: AP {r['AP']:.4f}, {r['gflops']:.3f} GFLOPs, {r['train_s']:.0f} s")
        for r in rows:
            r["flops_ratio"] = r["gflops"] / base_gflops
        valid = [r for r in rows if r["valid"] and r["name"] != "base (phi 0)"]
        best = max(valid, key=lambda r: (r["AP"], -r["gflops"])) if valid else None
        if best is not None and best["AP"] >= args.min_ap:
            chosen = ScalingCoefficients(best["alpha"], best["beta"], best["gamma"])
            note = f"chosen (best AP of the candidates that keep the family's steps within 15% of 2x): {best['name']}"
        else:
            note = (f"no candidate reached AP {args.min_ap} (too short to tell them apart: train longer with "
                    "--epochs); keeping the built-in coefficients")
        columns = [("candidate", "{name}"), ("alpha", "{alpha:g}"), ("beta", "{beta:g}"), ("gamma", "{gamma:g}"),
                   ("a*b^2*g^2", "{factor:.3f}"), ("C", "{width}"), ("modules", "{modules}"),
                   ("blocks", "{blocks}"), ("input", "{input_size}"), ("params", "{params:,}"),
                   ("GFLOPs", "{gflops:.3f}"), ("x base", "{flops_ratio:.2f}"),
                   ("family steps b0..b4", "{steps}"), ("train s", "{train_s:.0f}"), ("AP", "{AP:.4f}")]
        table = markdown(rows, columns)
        write_json(out / "scaling_search.json", {"config": args.config, "base": model_options(base), "rows": rows,
                                                  "chosen": vars(chosen)})
        summary = f"{note}: alpha {chosen.alpha:g}, beta {chosen.beta:g}, gamma {chosen.gamma:g}"
        write_text(out / "scaling_search.md", table + "\n" + summary + "\n")
        print(table + "\n" + summary + f"\n(written to {out / 'scaling_search.md'})")
    # Runs of the search (this one or an earlier one in the same work dir) that --family can reuse
    previous = out / "scaling_search.json"
    trained = {}
    if previous.is_file():
        import json

        earlier = json.loads(previous.read_text())
        if earlier.get("config") == args.config:
            trained = {r["signature"]: r for r in earlier["rows"] if "signature" in r and
                       (args.epochs is None or r["epochs"] == args.epochs)}

    if args.family:
        rows = []
        for phi in args.family:
            net = scale_network(base, chosen, phi)
            r = trained.get(signature(net))  # the same network trained by the search
            if r is None:
                r = train_network(args.config, net, base, sigma, out / f"family_b{phi}", args.epochs, args.seed,
                                  args.cfg_options)
            rows.append({**r, "name": f"b{phi}", "phi": phi, "signature": signature(net)})
            print(f"b{phi}: AP {r['AP']:.4f}, {r['gflops']:.3f} GFLOPs, {r['train_s']:.0f} s")
        columns = [("model", "{name}"), ("C", "{width}"), ("modules", "{modules}"), ("blocks", "{blocks}"),
                   ("input", "{input_size}"), ("params", "{params:,}"), ("GFLOPs", "{gflops:.3f}"),
                   ("train s", "{train_s:.0f}"), ("AP", "{AP:.4f}")]
        write_json(out / "family.json", {"coefficients": vars(chosen), "rows": rows})
        write_text(out / "family.md", markdown(rows, columns))
        plot_family(rows, out / "family.png")
        print(markdown(rows, columns) + f"plot: {out / 'family.png'}")
    return 0

