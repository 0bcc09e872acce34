"""Grid search of the compound-scaling coefficients (EfficientNet's step 1) on a pose mini-split.

At ``phi = 1`` every (alpha, beta) of the grid with ``gamma = sqrt(2 / (alpha * beta^2)) >= 1``
(so that ``alpha * beta^2 * gamma^2 = 2``: the same FLOPs budget, twice the base) scales the
config's base network (``model`` of the config, a ``pose_scalable_hrnet``; its input size is
``data.input_size``); the heatmaps stay at stride 4 and their Gaussian's sigma grows with the
resolution. Every candidate then trains the same short schedule on the same data and is
evaluated (COCO AP on the val split). A candidate also has to keep the named family's steps
(``pose_effhrnet_b0..b4`` built from ``hrseg.models.scaling.EFF_BASE``) within 15% of doubling the
multiply-adds; the best AP among those is the choice.

Writes ``<work-dir>/scaling_search.json`` and ``scaling_search.md`` (one row per candidate,
measured params and GFLOPs), and with ``family`` also ``family.json`` / ``family.md`` /
``family.png`` (AP against GFLOPs of the scaled models, drawn from ``family.json`` by :func:`replot_family`;
its footer is the run's machine, command and date, kept in the JSON's ``provenance``). Timings are
wall-clock on whatever the machine is doing at the same time. ``tools/search_scaling.py`` is its command line.
"""
from __future__ import annotations

import itertools
import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from hrseg.codecs.msra import HeatmapCodec
from hrseg.errors import ConfigError
from hrseg.experiments.common import (
    as_float, base_network, complexity, markdown, model_options, nan_last, new_figure, read_results, save_plot, shorten,
    write_text,
)
from hrseg.utils.provenance import run_provenance
from hrseg.models.scaling import (
    EFF_BASE, EFF_COEFFICIENTS, ScalableHRNet, ScalingCoefficients, scale_network,
)
from hrseg.utils.io import write_json
from hrseg.tasks.pose import load_pose_config, train


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


def family_steps(coefficients: ScalingCoefficients, base: ScalableHRNet = EFF_BASE, phis=range(5)) -> list[float]:
    """The ratios of consecutive models' multiply-adds of the family ``coefficients`` build."""
    flops = [complexity(scale_network(base, coefficients, phi))[1] for phi in phis]
    return [b / a for a, b in zip(flops, flops[1:])]


def train_network(config: str | Path, net: ScalableHRNet, base: ScalableHRNet, sigma: float, work_dir: Path,
                  epochs: int | None, seed: int | None, extra: list[str],
                  model_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train the config with ``net`` at its input size; returns AP, wall time and the sizes."""
    h, w = net.input_size
    cfg = load_pose_config(config, extra)
    cfg["model"] = {**model_options(net), **(model_extra or {})}  # e.g. init, norm: the same for all
    # the base's heatmap codec (stride 4) rescaled to this input size: sigma grows with the heatmaps
    codec = HeatmapCodec(tuple(base.input_size), tuple(s // 4 for s in base.input_size), sigma).rescaled((h, w))
    codec.write_sizes(cfg)
    cfg["work_dir"] = str(work_dir)
    if epochs is not None:  # the schedule's milestones move with the length; evaluated at the end
        shorten(cfg, epochs)
        cfg["train"]["eval_interval"] = epochs
    if seed is not None:
        cfg["seed"] = seed
    start = time.perf_counter()
    metrics = train(cfg)
    params, gf = complexity(net)
    return {"AP": float(metrics.get("AP", float("nan"))), "train_s": time.perf_counter() - start,
            "params": params, "gflops": gf, "input_size": [h, w], "width": net.width,
            "modules": list(net.modules), "blocks": list(net.blocks), "epochs": cfg["train"]["max_epochs"]}


def signature(net: ScalableHRNet) -> str:
    """What makes two trainings the same: the layout and the input size."""
    return (f"C{net.width} m{list(net.modules)} b{list(net.blocks)} s{net.stem_width}/{net.stage1_planes} "
            f"{net.block} {dict(net.block_options)} {net.fusion} {list(net.input_size)}")


def plot_family(rows: Sequence[Mapping[str, Any]], path: str | Path,
                provenance: Mapping[str, str] | None = None) -> None:
    """AP against GFLOPs of the family's ``rows``; ``provenance``: the run's (:func:`save_plot`)."""
    fig, ax = new_figure()
    ax.plot([r["gflops"] for r in rows], [as_float(r["AP"]) for r in rows], "o-")
    for r in rows:
        ax.annotate(r["name"], (r["gflops"], as_float(r["AP"])), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("GFLOPs (multiply-adds / 2^30) at each model's input size")
    ax.set_ylabel("AP (synthetic val)")
    ax.set_title("compound-scaled HRNet family")
    ax.grid(alpha=0.3)
    save_plot(fig, path, provenance)


def replot_family(results: str | Path, path: str | Path, provenance: Mapping[str, str] | None = None) -> None:
    """``family.png`` again from a ``family.json``, nothing trained, with the run's provenance
    (:func:`~hrseg.experiments.common.read_results`)."""
    result, kept = read_results(results, provenance)
    plot_family(result["rows"], path, kept)


def run_search(config: str | Path, alphas: Sequence[float] = (1.0, 1.2, 1.4), betas: Sequence[float] = (1.1,),
               epochs: int | None = None, max_candidates: int | None = None, with_base: bool = False,
               family: Sequence[int] | None = None, skip_search: bool = False, min_ap: float = 0.05,
               work_dir: str | Path = "work_dirs/search_scaling", seed: int | None = None,
               cfg_options: Sequence[str] = ()) -> ScalingCoefficients:
    """The grid search (unless ``skip_search``) and the ``family`` runs; returns the chosen
    coefficients (the built-in ones when no candidate reaches ``min_ap``). See the module docstring."""
    cfg = load_pose_config(config)
    base, model_extra = base_network(cfg)  # model_extra: init, norm, num_joints... the same for all
    sigma = float(cfg["data"]["sigma"])
    out = Path(work_dir)
    base_params, base_gflops = complexity(base)
    print(f"base: {base}\n  {base_params / 1e6:.2f}M params, {base_gflops:.3f} GFLOPs at "
          f"{base.input_size[0]}x{base.input_size[1]}")

    chosen = EFF_COEFFICIENTS
    if not skip_search:
        grid = candidates(alphas, betas)[: max_candidates]
        rows: list[dict[str, Any]] = []
        if with_base:
            r = train_network(config, base, base, sigma, out / "base", epochs, seed, cfg_options,
                              model_extra)
            rows.append({"name": "base (phi 0)", "alpha": 1.0, "beta": 1.0, "gamma": 1.0, "factor": 1.0,
                         "steps": "-", "valid": True, "signature": signature(base), **r})
        for c in grid:
            name = f"a{c.alpha:g}_b{c.beta:g}_g{c.gamma:g}"
            net = scale_network(base, c, 1)
            steps = family_steps(c)
            r = train_network(config, net, base, sigma, out / name, epochs, seed, cfg_options,
                              model_extra)
            rows.append({"name": name, "alpha": c.alpha, "beta": c.beta, "gamma": c.gamma,
                         "factor": c.flops_factor, "steps": " ".join(f"{s:.2f}" for s in steps),
                         "valid": all(abs(s - 2) <= 0.3 for s in steps), "signature": signature(net), **r})
            print(f"{name}: AP {r['AP']:.4f}, {r['gflops']:.3f} GFLOPs, {r['train_s']:.0f} s")
        for r in rows:
            r["flops_ratio"] = r["gflops"] / base_gflops
        valid = [r for r in rows if r["valid"] and r["name"] != "base (phi 0)"]
        best = max(valid, key=lambda r: (nan_last(r["AP"]), -r["gflops"])) if valid else None
        if best is not None and best["AP"] >= min_ap:
            chosen = ScalingCoefficients(best["alpha"], best["beta"], best["gamma"])
            note = f"chosen (best AP of the candidates that keep the family's steps within 15% of 2x): {best['name']}"
        else:
            note = (f"no candidate reached AP {min_ap} (too short to tell them apart: train longer with "
                    "--epochs); keeping the built-in coefficients")
        columns = [("candidate", "{name}"), ("alpha", "{alpha:g}"), ("beta", "{beta:g}"), ("gamma", "{gamma:g}"),
                   ("a*b^2*g^2", "{factor:.3f}"), ("C", "{width}"), ("modules", "{modules}"),
                   ("blocks", "{blocks}"), ("input", "{input_size}"), ("params", "{params:,}"),
                   ("GFLOPs", "{gflops:.3f}"), ("x base", "{flops_ratio:.2f}"),
                   ("family steps b0..b4", "{steps}"), ("train s", "{train_s:.0f}"), ("AP", "{AP:.4f}")]
        table = markdown(rows, columns)
        write_json(out / "scaling_search.json", {"config": str(config), "base": model_options(base), "rows": rows,
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
        if earlier.get("config") == str(config):
            trained = {r["signature"]: r for r in earlier["rows"] if "signature" in r and
                       (epochs is None or r["epochs"] == epochs)}

    if family:
        rows = []
        for phi in family:
            net = scale_network(base, chosen, phi)
            r = trained.get(signature(net))  # the same network trained by the search
            if r is None:
                r = train_network(config, net, base, sigma, out / f"family_b{phi}", epochs, seed,
                                  cfg_options, model_extra)
            rows.append({**r, "name": f"b{phi}", "phi": phi, "signature": signature(net)})
            print(f"b{phi}: AP {r['AP']:.4f}, {r['gflops']:.3f} GFLOPs, {r['train_s']:.0f} s")
        columns = [("model", "{name}"), ("C", "{width}"), ("modules", "{modules}"), ("blocks", "{blocks}"),
                   ("input", "{input_size}"), ("params", "{params:,}"), ("GFLOPs", "{gflops:.3f}"),
                   ("train s", "{train_s:.0f}"), ("AP", "{AP:.4f}")]
        write_json(out / "family.json", {"coefficients": vars(chosen), "rows": rows, "provenance": run_provenance()})
        write_text(out / "family.md", markdown(rows, columns))
        replot_family(out / "family.json", out / "family.png")
        print(markdown(rows, columns) + f"plot: {out / 'family.png'}")
    return chosen


