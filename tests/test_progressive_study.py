"""The progressive-learning study driver: what each arm changes, arm e's length from the CPU
times, mean +- sd, the convergence flag and the files (training replaced by a stand-in that
returns known numbers, so the driver's arithmetic is checked exactly)."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
import torch

from hrseg.engine.progressive import build_schedule
from hrseg.errors import ConfigError
from hrseg.experiments import progressive_study as study

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "effnet" / "progressive_synthetic.py"


def test_arms_change_only_the_progressive_section():
    from hrseg.tasks.pose import load_pose_config

    cfg = load_pose_config(CONFIG)
    arms = {a: study.arm_config(cfg, a, seed=3) for a in "abcd"}
    for run in arms.values():
        assert run["seed"] == 3 and run["train"] == cfg["train"] and run["data"] == cfg["data"]
    assert arms["a"]["progressive"]["enabled"] is False
    b = build_schedule(arms["b"]["progressive"], (128, 96), 9, heatmap_stride=4)
    c = build_schedule(arms["c"]["progressive"], (128, 96), 9, heatmap_stride=4)
    d = build_schedule(arms["d"]["progressive"], (128, 96), 9, heatmap_stride=4)
    assert [s.image_size for s in b.stages] == [s.image_size for s in c.stages] == [(64, 48), (96, 72), (128, 96)]
    assert all(s.dropout == s.randaugment == s.mixup == 0 for s in b.stages)
    assert [s.mixup for s in c.stages] == pytest.approx([0.0, 0.1, 0.2])     # the config's ranges
    assert len(d.stages) == 1 and d.stages[0].image_size == (128, 96)
    assert (d.stages[0].dropout, d.stages[0].randaugment, d.stages[0].mixup) == (0.1, 9.0, 0.2)  # final values
    e = study.arm_config(cfg, "e", 0, epochs=6)
    assert e["train"]["max_epochs"] == 6 and e["schedule"]["milestones"] == [5]  # 7 * 6/9 rounded
    with pytest.raises(ConfigError, match="unknown arm"):
        study.arm_config(cfg, "z", 0)


def test_driver_with_a_stand_in_for_training(tmp_path, monkeypatch):
    cpus = {"a": 100.0, "b": 60.0, "c": 50.0, "d": 110.0}
    finals = {("a", 0): 0.50, ("a", 1): 0.60, ("b", 0): 0.40, ("b", 1): 0.40, ("c", 0): 0.30, ("c", 1): 0.50,
              ("d", 0): 0.45, ("d", 1): 0.55, ("e", 0): 0.52, ("e", 1): 0.58}
    trained = []

    def fake_train_arm(cfg, task, work_dir, collect_only=False):
        arm, seed = work_dir.name.split("_seed")
        if collect_only:
            return None if arm in "ce" else {"metric": 0.5, "cpu_s": 1.0, "wall_s": 1.0, "epochs": 9,
                                               "curve": [(1.0, 0.5), (2.0, 0.5)]}
        trained.append((arm, int(seed), cfg["train"]["max_epochs"]))
        final = finals[(arm, int(seed))]
        return {"metric": final, "cpu_s": cpus.get(arm, 99.0), "wall_s": 300.0 - cpus.get(arm, 99.0), "train_s": 1.0,
                "epochs": cfg["train"]["max_epochs"], "curve": [(1.0, final - 0.1), (2.0, final)],
                "machine": {"cpu_kernels": "AVX2" if seed == "0" else "AVX512", "torch": "2.x", "threads": 1}}

    monkeypatch.setattr(study, "train_arm", fake_train_arm)
    result = study.run_study(CONFIG, "pose", tmp_path, seeds=(0, 1))
    assert [t[:2] for t in trained[:5]] == [("a", 0), ("b", 0), ("c", 0), ("d", 0), ("e", 0)]
    assert ("e", 0, 18) in trained                  # 9 epochs * cpu(a) 100 / cpu(c) 50 (not the wall times)
    s = result["summary"]
    assert s["a"]["mean"] == pytest.approx(0.55) and s["a"]["sd"] == pytest.approx(0.0707107, abs=1e-6)
    assert s["c"]["mean"] == pytest.approx(0.40) and s["c"]["sd"] == pytest.approx(0.1414214, abs=1e-6)
    assert s["e"]["epochs"] == 18 and s["a"]["n"] == 2
    assert s["a"]["cpu_mean"] == 100.0 and s["a"]["wall_mean"] == 200.0 and s["a"]["per_seed"] == "0.500 / 0.600"
    assert result["converged"] is False            # the stand-in's curves still rise by 0.1
    saved = json.loads((tmp_path / "study.json").read_text())
    assert saved["summary"]["b"]["mean"] == pytest.approx(0.40) and len(saved["runs"]) == 10
    table = (tmp_path / "study.md").read_text()
    assert "0.5500 +- 0.0707" in table and "NOT converged" in table
    # the seeds trained on different kernels, and the table says so (their float order differs)
    assert "trained with AVX2 kernels, torch 2.x, 1 thread(s); AVX512 kernels, torch 2.x, 1 thread(s)" in table
    assert (tmp_path / "study.png").stat().st_size > 0
    partial = study.run_study(CONFIG, "pose", tmp_path / "partial", seeds=(0,), collect_only=True)
    assert [r["arm"] for r in partial["runs"]] == ["a", "b", "d"]  # c unfinished, so e is not asked for
    assert partial["converged"] is True
    with pytest.raises(ConfigError, match="arm e needs"):
        study.run_study(CONFIG, "pose", tmp_path, seeds=(0,), arms=("b", "e"))


def test_still_rising():
    assert study.still_rising([(1, 0.2), (2, 0.3)])
    assert not study.still_rising([(1, 0.3), (2, 0.302)])
    assert study.still_rising([(1, 0.3)]) is None and study.still_rising([]) is None  # cannot tell


def _one_seed_arm(cfg, task, work_dir, collect_only=False):
    """A stand-in for train_arm: arm a evaluated once (as with eval_interval = max_epochs), the rest twice."""
    arm = work_dir.name.split("_seed")[0]
    curve = [(3.0, 0.0022)] if arm == "a" else [(1.0, 0.0001), (2.0, 0.0001)]
    return {"metric": curve[-1][1], "cpu_s": 7.0, "wall_s": 13.0, "epochs": 3, "curve": curve}


def test_one_evaluation_of_arm_a_claims_no_convergence_and_one_seed_no_spread(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "train_arm", _one_seed_arm)
    result = study.run_study(CONFIG, "pose", tmp_path, seeds=(0,), arms=("a", "b"))
    assert result["converged"] is None and result["fixed_size_still_rising"] == [None]
    table = (tmp_path / "study.md").read_text()
    assert "convergence unknown" in table and "at convergence" not in table and "NOT converged" not in table
    assert "0.0022 (n=1)" in table and "7 (n=1)" in table and "+- 0" not in table  # one seed: no spread shown
    assert result["summary"]["a"]["sd"] is None


def test_converged_over_seeds():
    assert study.converged([False, False]) is True
    assert study.converged([False, True]) is False and study.converged([None, True]) is False
    assert study.converged([False, None]) is None and study.converged([]) is None


def test_train_arm_reuses_a_result_and_resumes_an_interrupted_arm(tmp_path, monkeypatch):
    calls = []

    def fake_train(run):
        calls.append(run.get("resume"))
        work = Path(run["work_dir"])
        work.mkdir(parents=True, exist_ok=True)
        (work / "log.csv").write_text("epoch,time,cpu_time,val/AP\n1,5.0,2.0,\n2,6.0,3.0,0.25\n")
        return {"AP": 0.25}

    monkeypatch.setattr(study, "_task", lambda task: (None, fake_train, "AP"))
    cfg = {"train": {"max_epochs": 2}, "seed": 0}
    work = tmp_path / "a_seed0"
    r = study.train_arm(cfg, "pose", work)
    assert r["cpu_s"] == 5.0 and r["train_s"] == 11.0 and r["curve"] == [(5.0, 0.25)]
    assert r["wall_curve"] == [(11.0, 0.25)] and calls == [None]
    assert r["machine"] == {"cpu_kernels": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
                            "threads": torch.get_num_threads(), "machine": platform.machine()}
    assert study.train_arm(cfg, "pose", work) == json.loads((work / "arm.json").read_text())["result"]
    assert calls == [None]                              # reused, not trained again
    (work / "arm.json").unlink()                        # as if stopped part-way: only arm_started.json
    study.train_arm(cfg, "pose", work)
    assert calls == [None, True]                        # continued from its checkpoint
    assert study.train_arm(dict(cfg, seed=1), "pose", work, collect_only=True) is None
    study.train_arm(dict(cfg, seed=1), "pose", work)    # another config: trained afresh
    assert calls == [None, True, None]
    import shutil

    shutil.copytree(work, tmp_path / "moved" / "a_seed0")  # a study moved as a whole keeps its runs
    assert study.train_arm(dict(cfg, seed=1), "pose", tmp_path / "moved" / "a_seed0")["cpu_s"] == 5.0
    assert calls == [None, True, None]
