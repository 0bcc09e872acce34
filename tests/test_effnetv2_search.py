"""The training-aware search: reward on hand-made numbers, Pareto front, the space, and the
driver on a two-candidate space (trained for real, a few seconds)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hrseg.errors import ConfigError
from hrseg.experiments.effnetv2_search import (
    SearchSpace, StageChoice, candidate_name, candidate_network, pareto_front, parse_candidate, reward,
)
from hrseg.models.scaling import ScalableHRNet, build_pose_network


def test_reward_on_hand_made_numbers():
    # equal to the reference: the accuracy itself
    assert reward(0.5, 2.0, 1e6, ref_step_time=2.0, ref_params=1e6) == pytest.approx(0.5)
    # twice as slow: 0.5 * 2^-0.07 = 0.476373...; twice the params too: * 2^-0.05
    assert reward(0.5, 4.0, 1e6, ref_step_time=2.0, ref_params=1e6) == pytest.approx(0.5 * 2 ** -0.07)
    assert reward(0.5, 4.0, 2e6, ref_step_time=2.0, ref_params=1e6) == pytest.approx(0.5 * 2 ** -0.12)
    assert reward(0.5, 4.0, 2e6, ref_step_time=2.0, ref_params=1e6) == pytest.approx(0.46009, abs=1e-5)
    # configurable exponents: w = -1 makes it accuracy per unit of time
    assert reward(0.6, 3.0, 1.0, w=-1.0, v=0.0) == pytest.approx(0.2)
    # A model 10% slower must gain more than 0.67% accuracy to win (1.1^0.07 = 1.00669)
    assert reward(0.5034, 1.1, 1.0) > reward(0.5, 1.0, 1.0) > reward(0.5033, 1.1, 1.0)
    with pytest.raises(ValueError):
        reward(0.5, 0.0, 1.0)


def test_pareto_front():
    # (step time, accuracy)
    points = [(1.0, 0.5), (2.0, 0.7), (1.5, 0.4), (3.0, 0.7), (0.5, 0.1), (2.5, 0.8)]
    assert pareto_front(points) == [4, 0, 1, 5]   # (1.5, .4) and (3, .7) are dominated
    assert pareto_front([(1.0, 0.5), (1.0, 0.5)]) == [0, 1]  # ties dominate neither


def test_space_and_candidates():
    space = SearchSpace()
    choices = space.stage_choices()
    assert len(choices) == 3 + 2 * 2 * 3 * 3            # BASIC x blocks, + 2 ops x kernels x expansions x blocks
    assert space.size() == 39 ** 3
    a, b = space.sample(5, seed=3), space.sample(5, seed=3)
    assert a == b and len(set(a)) == 5                   # seeded, distinct
    c = parse_candidate("Bx2-M5e4x1-F3e1x3")
    assert c == (StageChoice("BASIC", 3, 1, 2), StageChoice("MBCONV", 5, 4, 1), StageChoice("FUSED_MBCONV", 3, 1, 3))
    assert candidate_name(c) == "Bx2-M5e4x1-F3e1x3"
    with pytest.raises(ConfigError, match="three stages"):
        parse_candidate("Bx2-Q3e1x1")
    net = candidate_network(ScalableHRNet(width=8, stem_width=8, stage1_planes=8, input_size=(64, 48)), c)
    model = build_pose_network(net)
    assert type(model.backbone.stage3[0].branches[0][0]).__name__ == "MBConv"
    assert model.backbone.stage4[0].branches[0][0].conv_exp.kernel_size == (3, 3)
    assert len(model.backbone.stage4[0].branches[0]) == 3 and len(model.backbone.stage3[0].branches[1]) == 1
    assert model.backbone.stage3[0].branches[0][0].se is not None      # MBConv with SE 1/4
    assert model.backbone.stage4[0].branches[0][0].se is None          # Fused-MBConv without SE
    assert type(model.backbone.stage2[0].branches[0][0]).__name__ == "BasicBlock"


@pytest.mark.slow
def test_search_driver_on_two_candidates(tmp_path, monkeypatch):
    """Two tiny candidates trained one epoch on 6 synthetic images: table, JSON, plot, winner."""
    from pathlib import Path

    from hrseg.experiments.effnetv2_search import run_search
    from hrseg.tasks.pose import load_pose_config

    repo = Path(__file__).resolve().parents[1]
    options = {"data.root": str(tmp_path / "data"), "data.synthetic.num_train": 6, "data.synthetic.num_val": 2,
               "data.synthetic.image_size": [96, 96], "data.num_workers": 0, "data.batch_size": 3,
               "data.val_batch_size": 8, "data.train.img_ids": None, "data.input_size": [64, 48],
               "data.heatmap_size": [16, 12], "model.width": 8, "model.stem_width": 8, "model.stage1_planes": 8,
               "schedule.warmup_iters": 1, "schedule.milestones": [1], "train.max_epochs": 1,
               "train.eval_interval": 1}
    cfg = load_pose_config(repo / "configs/effnet/search_effnetv2.py", options)
    candidates = [parse_candidate("Bx1-Bx1-Bx1"), parse_candidate("F3e1x1-M3e4x1-F5e4x1")]
    result = run_search(cfg, tmp_path / "search", candidates, w=-0.07, v=-0.05, step_batch=1)
    rows = result["rows"]
    assert [r["name"] for r in rows] == ["Bx1-Bx1-Bx1", "F3e1x1-M3e4x1-F5e4x1"]
    ref = result["reference"]
    for r in rows:
        assert r["params"] > 0 and r["step_s"] > 0 and r["epochs"] == 1 and 0 <= r["AP"] <= 1
        assert r["reward"] == pytest.approx(r["AP"] * (r["step_s"] / ref["step_s"]) ** -0.07
                                            * (r["params"] / ref["params"]) ** -0.05)
    assert result["winner"] == max(rows, key=lambda r: r["reward"])["name"]
    assert rows[0]["params"] == ref["params"] or rows[0]["params"] < ref["params"]  # fewer blocks than the base
    saved = json.loads((tmp_path / "search" / "search.json").read_text())
    assert saved["winner"] == result["winner"] and saved["winner_model"]["name"] == "pose_scalable_hrnet"
    assert set(saved["pareto"]) <= {r["name"] for r in rows} and saved["pareto"]
    assert f"step times on {torch.backends.cpu.get_cpu_capability()} kernels" in (tmp_path / "search" / "search.md").read_text()
    assert (tmp_path / "search" / "search.png").stat().st_size > 0
    assert not math.isnan(rows[0]["AP"])

    # the same search again trains nothing: each candidate's run is kept in <name>/arm.json
    import hrseg.experiments.progressive_study as study

    def no_training(cfg):
        raise AssertionError("a kept candidate was retrained")

    monkeypatch.setattr(study, "_task", lambda task: (None, no_training, "AP"))
    again = run_search(cfg, tmp_path / "search", candidates, w=-0.07, v=-0.05, step_batch=1, earlier=rows)
    assert [(r["name"], r["AP"], r["epochs"]) for r in again["rows"]] == [(r["name"], r["AP"], r["epochs"]) for r in rows]
    assert again["agreement"]["candidates"] == [r["name"] for r in rows]   # ranked against the first run
    assert "Spearman rho" in (tmp_path / "search" / "search.md").read_text()

    # the finals: the best candidate by reward retrained (here as long) in search/final, ranked against the first run
    from hrseg.experiments.effnetv2_search import run_finals

    monkeypatch.undo()
    final = run_finals(cfg, tmp_path / "search", result, finalists=1, epochs=1, w=-0.07, v=-0.05, step_batch=1)
    assert [r["name"] for r in final["rows"]] == [result["winner"]] == [final["winner"]]
    assert final["agreement"]["candidates"] == [result["winner"]]
    assert (tmp_path / "search" / "final" / result["winner"] / "arm.json").is_file()
    with pytest.raises(ConfigError, match="at least one finalist"):
        run_finals(cfg, tmp_path / "search", result, finalists=0, epochs=1)


def test_spearman_and_rank_agreement_on_hand_made_numbers(tmp_path):
    from hrseg.errors import DataError
    from hrseg.experiments.effnetv2_search import rank_agreement, read_search, spearman

    assert spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)   # 1 - 6 * 2 / (4 * 15)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 3], [5, 6, 7, 8]) == pytest.approx(np.corrcoef([0.5, 0.5, 2, 3], [0, 1, 2, 3])[0, 1])
    assert math.isnan(spearman([1, 2], [2, 1])) and math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    short = [{"name": n, "AP": a, "reward": r} for n, a, r in
             [("A", 0.08, 0.09), ("B", 0.07, 0.07), ("C", 0.03, 0.03), ("D", 0.05, 0.06)]]
    long = [{"name": n, "AP": a, "reward": r} for n, a, r in
            [("B", 0.30, 0.29), ("A", 0.25, 0.27), ("C", 0.10, 0.11), ("E", 0.5, 0.5)]]
    q = rank_agreement(long, short)
    assert q["candidates"] == ["B", "A", "C"] and q["best_earlier"] == "A" and q["best_here"] == "B"
    assert q["rho_AP"] == pytest.approx(0.5) and q["rho_reward"] == pytest.approx(0.5)
    # a run that gave no AP (NaN) met first was kept by max: no number compares greater than NaN
    nan_first = [{"name": "X", "AP": math.nan, "reward": math.nan}] + short
    assert rank_agreement(nan_first, nan_first)["best_here"] == "A"
    with pytest.raises(DataError, match="no such file"):
        read_search(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json: not a readable JSON"):
        read_search(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"rows": [{"name": "A"}]}')
    with pytest.raises(DataError, match="not a search.json"):
        read_search(tmp_path / "other.json")


def _stand_in_search(tmp_path, monkeypatch, aps):
    """run_search on two candidates with made-up APs, step times and parameters (nothing trained)."""
    from pathlib import Path

    from hrseg.experiments import effnetv2_search as search
    from hrseg.tasks.pose import load_pose_config

    scores = iter(aps)
    monkeypatch.setattr(search, "measure", lambda model, size, batch: {"params": 1000, "gflops": 0.01, "step_s": 0.1})
    monkeypatch.setattr(search, "train_config", lambda cfg, model, work_dir, epochs, seed: {
        "AP": next(scores), "train_s": 1.0, "cpu_s": 1.0, "epochs": 2})
    cfg = load_pose_config(Path(__file__).resolve().parents[1] / "configs/effnet/search_effnetv2_small.py")
    candidates = [parse_candidate("Bx1-Bx1-Bx1"), parse_candidate("F3e1x1-M3e4x1-F5e4x1")]
    return search.run_search(cfg, tmp_path, candidates)


def test_a_winner_among_all_zero_scores_is_flagged(tmp_path, monkeypatch, capsys):
    result = _stand_in_search(tmp_path / "zero", monkeypatch, [0.0, 0.0])
    assert result["winner"] == "Bx1-Bx1-Bx1"                  # every reward 0: the first row
    assert "no candidate reached AP 0.05" in result["warning"] and "first candidate" in result["warning"]
    report = (tmp_path / "zero" / "search.md").read_text()
    assert "WARNING: no candidate reached AP 0.05 (best 0.0000)" in report
    assert "WARNING: no candidate reached" in capsys.readouterr().out
    assert json.loads((tmp_path / "zero" / "search.json").read_text())["warning"] == result["warning"]
    told_apart = _stand_in_search(tmp_path / "fine", monkeypatch, [0.06, 0.2])
    assert told_apart["winner"] == "F3e1x1-M3e4x1-F5e4x1" and told_apart["warning"] is None
    assert "WARNING" not in (tmp_path / "fine" / "search.md").read_text()
