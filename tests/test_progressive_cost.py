"""The step-cost measure of progressive learning at a real size: stages from the schedule, each
stage's regularization applied and timed, the arms' epoch costs computed from the rows."""
from __future__ import annotations

import json
import statistics

import pytest
import torch
from torch import nn

from hrseg.experiments.common import fastest_seconds
from hrseg.experiments.progressive_cost import cost_table, stage_costs

PROGRESSIVE = dict(num_stages=3, min_scale=0.5, size_divisor=16, dropout=[0.0, 0.1], randaugment=[0, 9],
                   randaugment_ops=2, mixup=[0.0, 0.2])


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.regularization: list[tuple[float, float]] = []

    def set_regularization(self, dropout: float, drop_path: float) -> None:
        self.regularization.append((dropout, drop_path))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_stage_costs_follow_the_schedule_and_sum_into_the_arms():
    model = Tiny()
    result = stage_costs(model, (64, 48), 2, PROGRESSIVE, iters=1)
    rows = result["rows"]
    assert [r["size"] for r in rows] == ["32x24", "48x36", "64x48"]
    assert [r["pixels_x_final"] for r in rows] == pytest.approx([0.25, 0.5625, 1.0])
    # the first stage has no regularization, the last the config's final values (and they are timed)
    assert rows[0]["randaugment_s"] == rows[0]["mixup_s"] == 0.0
    assert rows[2]["randaugment"] == 9 and rows[2]["mixup_alpha"] == pytest.approx(0.2)
    assert rows[2]["randaugment_s"] > 0 and rows[2]["mixup_s"] > 0
    assert model.regularization == [(0.0, 0.0), (0.05, 0.0), (0.1, 0.0), (0.0, 0.0)]  # reset at the end
    q, final = result["ratios"], rows[2]["step_s"]
    assert q["b"] == pytest.approx(statistics.fmean(r["step_s"] for r in rows) / final)
    assert q["c"] == pytest.approx(statistics.fmean(r["step_s"] + r["randaugment_s"] + r["mixup_s"]
                                                    for r in rows) / final)
    assert q["d"] == pytest.approx(1 + (rows[2]["randaugment_s"] + rows[2]["mixup_s"]) / final)
    assert q["pixels_b"] == pytest.approx((0.25 + 0.5625 + 1.0) / 3)
    assert "(b)" in cost_table(result) and "| 2 | 48x36 |" in cost_table(result)


def test_fastest_seconds_takes_the_minimum(monkeypatch):
    import types

    from hrseg.experiments import common

    # a clock whose timed calls last 3, 1 and 2 s: the warm-ups are not timed, the fastest is returned
    ticks = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])
    monkeypatch.setattr(common, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    calls = []
    assert fastest_seconds(lambda: calls.append(1), warmup=2, iters=3) == 1.0
    assert len(calls) == 5


def test_the_command_writes_its_json(tmp_path, capsys):
    from hrseg.commands.progressive_cost import main

    out = tmp_path / "cost.json"
    assert main(["pose_hrnet_w18_small_v1", "--input-size", "64x48", "--batch", "2", "--iters", "1",
                 "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["model"] == "pose_hrnet_w18_small_v1" and len(saved["rows"]) == 3
    assert saved["rows"][-1]["size"] == "64x48" and saved["progressive"]["randaugment"] == [0, 9]
    assert "epoch cost x (a)" in capsys.readouterr().out


def test_the_command_names_a_config_without_stages():
    from pathlib import Path

    from hrseg.commands.progressive_cost import main
    from hrseg.errors import ConfigError

    config = Path(__file__).resolve().parents[1] / "configs" / "pose" / "synthetic_mini.py"
    with pytest.raises(ConfigError, match="synthetic_mini.py: no progressive section"):
        main(["pose_hrnet_w18_small_v1", "--input-size", "64x48", "--config", str(config)])
