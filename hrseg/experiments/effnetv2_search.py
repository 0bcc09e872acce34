"""EfficientNetV2's training-aware search on the stages of HRNet (Tan & Le, ICML 2021, section 3.3).

The space, per multi-branch stage (2, 3, 4): the operation (``BASIC``, ``MBCONV``,
``FUSED_MBCONV``), its kernel size {3, 5} and expansion ratio {1, 4, 6}, and the blocks per
branch; a BASIC block has neither option (it is two 3x3 convolutions). Every other part of the
network (stem, stage 1, widths, fusions, input size) is the search config's base layout.

Each candidate is trained the same short schedule on the pose mini-split and scored with the
paper's reward ``A * S^w * P^v``: ``A`` the val AP, ``S`` its training step time measured on this
machine (:func:`hrseg.experiments.common.train_step_seconds`) and ``P`` its parameters, both
relative to the base layout's (a constant factor, so it changes the reward's scale, not the
ranking), with ``w = -0.07`` and ``v = -0.05``. The paper samples about 1000 models; a CPU-only
machine samples a few (``num_samples``), seeded, so a run is reproducible.

Writes ``search.json``, ``search.md`` (one row per candidate) and ``search.png`` (AP against
step time, the Pareto front drawn; from ``search.json`` by :func:`replot_search`, its footer the run's machine,
command and date that the JSON keeps); :func:`compare_models` trains the winner beside named models.
When no candidate reaches ``min_ap`` AP (a schedule too short to tell them apart; all-zero APs make
every reward 0 and the first row the winner) the winner is still named, so that finals and comparisons
can run, but a warning is printed, kept in ``search.json`` (``warning``) and written under the table.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from hrseg.errors import ConfigError, DataError
from hrseg.experiments.common import (
    as_float, base_network, inference_images_per_second, markdown, model_options, nan_last, new_figure, read_results,
    save_plot, shorten, train_step_seconds, write_text,
)
from hrseg.models.scaling import ScalableHRNet, build_pose_network
from hrseg.utils.io import write_json
from hrseg.utils.provenance import machine, run_provenance
from hrseg.experiments.progressive_study import train_arm
from hrseg.utils.flops import measure_complexity
import hrseg

# EfficientNetV2's exponents of the normalised step time and parameter size
REWARD_W, REWARD_V = -0.07, -0.05
OPS = ("BASIC", "MBCONV", "FUSED_MBCONV")
# below this AP the candidates are not told apart (the same default as search-scaling's --min-ap)
MIN_AP = 0.05


@dataclass(frozen=True)
class StageChoice:
    """One stage's operation, kernel, expansion and blocks per branch."""

    op: str
    kernel: int = 3
    expansion: int = 1
    blocks: int = 2

    def canonical(self) -> "StageChoice":
        """BASIC has no kernel or expansion option: fix them, so duplicates are found."""
        return replace(self, kernel=3, expansion=1) if self.op == "BASIC" else self

    def block_options(self) -> tuple[tuple[str, Any], ...]:
        """Options of the block: MBConv with SE 1/4 (EfficientNet's), Fused-MBConv without SE
        (EfficientNetV2 uses none in its fused stages)."""
        if self.op == "BASIC":
            return ()
        se = 0.25 if self.op == "MBCONV" else 0.0
        return (("expand_ratio", float(self.expansion)), ("kernel_size", self.kernel), ("se_ratio", se))

    @property
    def label(self) -> str:
        short = {"BASIC": "B", "MBCONV": "M", "FUSED_MBCONV": "F"}[self.op]
        return f"{short}x{self.blocks}" if self.op == "BASIC" else f"{short}{self.kernel}e{self.expansion}x{self.blocks}"


Candidate = tuple[StageChoice, StageChoice, StageChoice]


def candidate_name(candidate: Sequence[StageChoice]) -> str:
    return "-".join(c.label for c in candidate)


def parse_candidate(text: str) -> Candidate:
    """``"Bx2-M5e4x1-F3e1x2"`` (the names the tables use) back to a candidate."""
    ops = {"B": "BASIC", "M": "MBCONV", "F": "FUSED_MBCONV"}
    out = []
    for part in text.split("-"):
        try:
            op = ops[part[0]]
            head, blocks = part[1:].split("x")
            kernel, expansion = (3, 1) if op == "BASIC" else (int(v) for v in head.split("e"))
            out.append(StageChoice(op, int(kernel), int(expansion), int(blocks)))
        except (KeyError, ValueError, IndexError):
            raise ConfigError(f"candidate {text!r}: expected three stages like Bx2, M5e4x1, F3e1x2 "
                              "joined by '-'") from None
    if len(out) != 3:
        raise ConfigError(f"candidate {text!r}: expected three stages, got {len(out)}")
    return tuple(out)  # type: ignore[return-value]


@dataclass(frozen=True)
class SearchSpace:
    ops: tuple[str, ...] = OPS
    kernels: tuple[int, ...] = (3, 5)
    expansions: tuple[int, ...] = (1, 4, 6)
    blocks: tuple[int, ...] = (1, 2, 3)

    def stage_choices(self) -> list[StageChoice]:
        """Every distinct choice for one stage."""
        bad = set(self.ops) - set(OPS)
        if bad:
            raise ConfigError(f"unknown operations {sorted(bad)}; choose from {OPS}")
        choices = {StageChoice(*c).canonical()
                   for c in itertools.product(self.ops, self.kernels, self.expansions, self.blocks)}
        return sorted(choices, key=lambda c: (OPS.index(c.op), c.kernel, c.expansion, c.blocks))

    def size(self) -> int:
        return len(self.stage_choices()) ** 3

    def sample(self, num: int, seed: int = 0) -> list[Candidate]:
        """``num`` distinct candidates drawn uniformly (seeded)."""
        choices = self.stage_choices()
        num = min(num, self.size())
        rng = np.random.default_rng(seed)
        seen: dict[Candidate, None] = {}
        while len(seen) < num:
            seen.setdefault(tuple(choices[int(i)] for i in rng.integers(len(choices), size=3)), None)
        return list(seen)


def reward(accuracy: float, step_time: float, params: float, w: float = REWARD_W, v: float = REWARD_V,
           ref_step_time: float = 1.0, ref_params: float = 1.0) -> float:
    """EfficientNetV2's ``A * S^w * P^v`` with ``S`` and ``P`` relative to the references."""
    if step_time <= 0 or params <= 0 or ref_step_time <= 0 or ref_params <= 0:
        raise ValueError("step times and parameter counts must be positive")
    return accuracy * (step_time / ref_step_time) ** w * (params / ref_params) ** v


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (cost, accuracy) points no other point beats: none is at most as costly and at
    least as accurate, and strictly better in one; sorted by cost."""
    front = []
    for i, (c, a) in enumerate(points):
        dominated = any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for j, (c2, a2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (tied values share their mean rank); NaN for fewer than 3 pairs."""
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of the same length")
    if len(x) < 3:
        return float("nan")

    def ranks(values: Sequence[float]) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        order = np.argsort(values, kind="stable")
        r = np.empty(len(values))
        r[order] = np.arange(len(values), dtype=float)
        for v in np.unique(values):
            tied = values == v
            r[tied] = r[tied].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def read_search(path: str | Path) -> dict[str, Any]:
    """A ``search.json`` written by :func:`run_search`, checked enough to compare against."""
    import json

    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (a search.json of an earlier search)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable JSON file ({e})") from None
    rows = result.get("rows") if isinstance(result, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"name", "AP", "reward"} <= set(r) for r in rows):
        raise DataError(f"{path}: not a search.json (expected 'rows' with name, AP and reward)")
    return result


def rank_agreement(rows: Sequence[Mapping[str, Any]], earlier: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How far a search's short schedule predicts another run's ranking (e.g. the same candidates
    trained three times longer): Spearman's rho of AP and of the reward over the candidates both
    runs trained, and each run's best of them."""
    before = {r["name"]: r for r in earlier}
    common = [r for r in rows if r["name"] in before]
    pairs = [(before[r["name"]], r) for r in common]

    def best(side: int) -> str | None:
        return max(pairs, key=lambda p: nan_last(p[side]["reward"]))[side]["name"] if pairs else None

    return {"candidates": [r["name"] for r in common],
            "rho_AP": spearman([a["AP"] for a, _ in pairs], [b["AP"] for _, b in pairs]),
            "rho_reward": spearman([a["reward"] for a, _ in pairs], [b["reward"] for _, b in pairs]),
            "best_earlier": best(0), "best_here": best(1)}


def winner_warning(rows: Sequence[Mapping[str, Any]], winner: str, min_ap: float = MIN_AP) -> str | None:
    """Why the ``winner`` of ``rows`` is not a finding, or None: no candidate reached ``min_ap`` AP."""
    scores = [r["AP"] for r in rows if not math.isnan(r["AP"])]
    best = max(scores, default=math.nan)
    if best >= min_ap:
        return None
    tie = " (every reward is 0: it is simply the first candidate)" if best == 0 else ""
    return (f"no candidate reached AP {min_ap:g} (best {best:.4f}): the schedule is too short to tell them apart, "
            f"so the winner {winner} is not a finding{tie}; train longer (--epochs)")


def candidate_network(base: ScalableHRNet, candidate: Sequence[StageChoice]) -> ScalableHRNet:
    return replace(base, blocks=tuple(c.blocks for c in candidate),
                   stage_blocks=tuple((c.op, c.block_options()) for c in candidate))


# -- training -------------------------------------------------------------------------------------
def train_config(cfg: Mapping[str, Any], model: Mapping[str, Any], work_dir: Path, epochs: int | None,
                 seed: int | None) -> dict[str, Any]:
    """Train a copy of the pose config with another ``model`` section: AP, wall and CPU seconds.

    The run is kept in ``work_dir/arm.json`` with its config (the progressive study's
    :func:`~hrseg.experiments.progressive_study.train_arm`), so a search that is stopped or
    widened (``--samples 12`` after 8 draws the same 8 first) retrains nothing it has."""
    import copy

    run = copy.deepcopy(dict(cfg))
    run["model"] = dict(model)
    shorten(run, epochs)
    if seed is not None:
        run["seed"] = seed
    kept = train_arm(run, "pose", Path(work_dir))
    return {"AP": kept["metric"], "train_s": kept["wall_s"], "cpu_s": kept["cpu_s"], "epochs": kept["epochs"]}


def measure(model: torch.nn.Module, input_size: Sequence[int], batch: int) -> dict[str, float]:
    c = measure_complexity(model, tuple(input_size))
    return {"params": c.params, "gflops": c.gflops_paper,
            "step_s": train_step_seconds(model, input_size, batch)}


def run_search(cfg: Mapping[str, Any], work_dir: str | Path, candidates: Sequence[Candidate] | None = None,
               num_samples: int = 8, sample_seed: int = 0, space: SearchSpace = SearchSpace(),
               epochs: int | None = None, seed: int | None = None, w: float = REWARD_W, v: float = REWARD_V,
               step_batch: int | None = None, earlier: Sequence[Mapping[str, Any]] | None = None,
               min_ap: float = MIN_AP) -> dict[str, Any]:
    """Train and score ``candidates`` (default: ``num_samples`` drawn from ``space``); returns
    ``{"rows", "winner", "pareto", "reference", "warning"}`` and writes the table, JSON and plot.
    ``earlier``: another search's rows, to report how this run's ranking agrees with it
    (:func:`rank_agreement`). ``warning``: :func:`winner_warning`'s, None when some AP reached ``min_ap``."""
    out = Path(work_dir)
    base, extra = base_network(cfg)
    batch = step_batch or int(cfg["data"]["batch_size"])
    if candidates is None:
        candidates = space.sample(num_samples, sample_seed)
    # every step time first, back to back in one process, so that they share the machine's state;
    # the training (minutes per candidate) comes after
    ref = measure(build_pose_network(base), base.input_size, batch)
    print(f"search: {len(candidates)} candidates of a space of {space.size():,}; base step "
          f"{ref['step_s'] * 1000:.0f} ms, {ref['params'] / 1e6:.2f}M params")
    nets = [candidate_network(base, c) for c in candidates]
    measured = [measure(build_pose_network(net), net.input_size, batch) for net in nets]
    rows = []
    for i, (candidate, net) in enumerate(zip(candidates, nets)):
        name = candidate_name(candidate)
        trained = train_config(cfg, {**model_options(net), **extra}, out / name, epochs, seed)
        row = {"name": name, "stages": [vars(c) for c in candidate], **measured[i], **trained}
        row["reward"] = reward(row["AP"], row["step_s"], row["params"], w, v, ref["step_s"], ref["params"])
        rows.append(row)
        print(f"[{i + 1}/{len(candidates)}] {name}: AP {row['AP']:.4f}, step {row['step_s'] * 1000:.0f} ms, "
              f"{row['params'] / 1e6:.2f}M params, reward {row['reward']:.4f}")
    front = pareto_front([(r["step_s"], r["AP"]) for r in rows])
    for i, r in enumerate(rows):
        r["pareto"] = i in front
    winner = max(rows, key=lambda r: nan_last(r["reward"]))
    warning = winner_warning(rows, winner["name"], min_ap)
    result = {"reward": {"w": w, "v": v}, "machine": machine(), "provenance": run_provenance(),
              "reference": {"layout": model_options(base), **ref},
              "rows": rows, "winner": winner["name"], "warning": warning, "pareto": [rows[i]["name"] for i in front],
              "winner_model": {**model_options(candidate_network(base, parse_candidate(winner["name"]))), **extra}}
    agreement = ""
    if earlier is not None:
        result["agreement"] = q = rank_agreement(rows, earlier)
        agreement = (f"\nagainst the earlier run, {len(q['candidates'])} candidates in common: Spearman rho of AP "
                     f"{q['rho_AP']:.2f}, of the reward {q['rho_reward']:.2f}; best by reward there "
                     f"{q['best_earlier']}, here {q['best_here']}")
    write_json(out / "search.json", result)
    columns = [("candidate (stage 2-3-4)", "{name}"), ("params", "{params:,}"), ("GFLOPs", "{gflops:.3f}"),
               ("step ms", "{step_ms:.0f}"), ("train s", "{train_s:.0f}"), ("AP", "{AP:.4f}"),
               ("reward", "{reward:.4f}"), ("Pareto", "{front}")]
    table = markdown(sorted(({**r, "step_ms": r["step_s"] * 1000, "front": "yes" if r["pareto"] else ""}
                             for r in rows), key=lambda r: -r["reward"]), columns)
    summary = (f"reward A * S^{w:g} * P^{v:g} (S, P relative to the base: {ref['step_s'] * 1000:.0f} ms, "
               f"{ref['params']:,} params); winner {winner['name']}; step times on {result['machine']['cpu_kernels']} "
               f"kernels, {result['machine']['threads']} thread(s)")
    if warning:
        summary += f"\nWARNING: {warning}"
    write_text(out / "search.md", table + "\n" + summary + agreement + "\n")
    replot_search(out / "search.json", out / "search.png")
    print(table + "\n" + summary + agreement, flush=True)
    return result


def run_finals(cfg: Mapping[str, Any], work_dir: str | Path, result: Mapping[str, Any], finalists: int,
               epochs: int, seed: int | None = None, w: float = REWARD_W, v: float = REWARD_V,
               step_batch: int | None = None, min_ap: float = MIN_AP) -> dict[str, Any]:
    """The search's second round: its ``finalists`` best candidates by reward retrained ``epochs``
    (a longer schedule) in ``work_dir/final``, the winner chosen among them, and how the short
    schedule's ranking agreed with the longer one (``agreement``). A short schedule measures how
    fast a candidate starts learning; the finals check that against where it gets to."""
    if finalists < 1 or epochs < 1:
        raise ConfigError(f"the finals need at least one finalist and one epoch, got {finalists} and {epochs}")
    best = sorted(result["rows"], key=lambda r: -r["reward"])[:finalists]
    return run_search(cfg, Path(work_dir) / "final", [parse_candidate(r["name"]) for r in best], epochs=epochs,
                      seed=seed, w=w, v=v, step_batch=step_batch, earlier=result["rows"], min_ap=min_ap)


def plot_search(rows: Sequence[Mapping[str, Any]], front: Sequence[int], path: str | Path,
                provenance: Mapping[str, str] | None = None) -> None:
    """AP against step time, the Pareto front (``front``: indices) drawn, the best reward named."""
    fig, ax = new_figure()
    ap = [as_float(r["AP"]) for r in rows]
    ax.scatter([r["step_s"] * 1000 for r in rows], ap, s=18)
    ax.plot([rows[i]["step_s"] * 1000 for i in front], [ap[i] for i in front], "r-o", ms=4, label="Pareto front")
    best = max(range(len(rows)), key=lambda i: nan_last(as_float(rows[i]["reward"])))
    ax.annotate(rows[best]["name"], (rows[best]["step_s"] * 1000, ap[best]), textcoords="offset points",
                xytext=(4, 4), fontsize=7)
    ax.set_xlabel("training step time (ms, this machine)")
    ax.set_ylabel("AP (synthetic val)")
    ax.set_title("training-aware search")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_plot(fig, path, provenance)


def replot_search(results: str | Path, path: str | Path, provenance: Mapping[str, str] | None = None) -> None:
    """``search.png`` again from a ``search.json``, nothing trained or timed, with the run's provenance
    (:func:`~hrseg.experiments.common.read_results`)."""
    result, kept = read_results(results, provenance)
    rows = result["rows"]
    plot_search(rows, pareto_front([(r["step_s"], as_float(r["AP"])) for r in rows]), path, kept)


def compare_models(cfg: Mapping[str, Any], work_dir: str | Path, models: Mapping[str, Mapping[str, Any]],
                   epochs: int | None = None, seed: int | None = None, full_size: Sequence[int] = (256, 192),
                   reuse: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Train each ``{label: model section}`` the same schedule; AP, params and GFLOPs at
    ``full_size``, training step time and CPU inference images/s at the config's input size.
    ``reuse`` maps a label to an earlier run's ``{"AP", "train_s", "epochs"}`` (not retrained)."""
    out = Path(work_dir)
    size = tuple(cfg["data"]["input_size"])
    batch = int(cfg["data"]["batch_size"])
    rows = []
    for label, section in models.items():
        options = dict(section)
        model = hrseg.build_model(options.pop("name"), **options)
        measured = measure(model, size, batch)
        full = measure_complexity(model, tuple(full_size))
        trained = dict(reuse[label]) if reuse and label in reuse else train_config(cfg, section, out / label,
                                                                                   epochs, seed)
        rows.append({"model": label, **measured, "params": full.params, "gflops_full": full.gflops_paper,
                     "images_s": inference_images_per_second(model, size), **trained})
    columns = [("model", "{model}"), ("params", "{params:,}"), (f"GFLOPs {full_size[0]}x{full_size[1]}",
                                                                 "{gflops_full:.3f}"),
               (f"GFLOPs {size[0]}x{size[1]}", "{gflops:.3f}"), ("train step ms", "{step_ms:.0f}"),
               ("CPU inference img/s", "{images_s:.0f}"), ("AP", "{AP:.4f}")]
    table = markdown([{**r, "step_ms": r["step_s"] * 1000} for r in rows], columns)
    write_json(out / "compare.json", {"rows": rows})
    write_text(out / "compare.md", table)
    print(table)
    return rows


COMPARED = ("pose_hrnet_w18_small_v2", "pose_mbhrnet_lite")


def compare_with_named(cfg: Mapping[str, Any], work_dir: str | Path, result: Mapping[str, Any],
                       epochs: int | None = None, seed: int | None = None,
                       names: Sequence[str] = COMPARED) -> list[dict[str, Any]]:
    """The search's winner (its run reused) beside the named models, the same schedule each."""
    init = result["winner_model"].get("init")
    models = {f"winner {result['winner']}": result["winner_model"],
              **{n: {"name": n, **({"init": init} if init else {})} for n in names}}
    won = next(r for r in result["rows"] if r["name"] == result["winner"])
    reuse = {f"winner {result['winner']}": {k: won[k] for k in ("AP", "train_s", "epochs")}}
    return compare_models(cfg, work_dir, models, epochs, seed, reuse=reuse)
