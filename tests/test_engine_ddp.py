"""Distributed data-parallel training: 2 CPU processes (gloo) launched by torchrun.

Both ranks must end with identical weights, equal (up to float summation order) to one process
training with the union of the two per-rank batches: DistributedSampler gives rank r the
samples r, r+2, ... of the epoch's permutation, and DDP averages the two ranks' gradients.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from hrseg.engine import Trainer, all_gather_object, build_dataloader, get_rank, shard
from conftest import python_path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
N = 24


def gathered_mse(model: nn.Module) -> dict[str, float]:
    """Evaluation as a task would do it: each rank scores its shard, the errors are gathered."""
    from test_engine import NoisyData

    data = NoisyData(N, augment=False)
    errors = [float((model(data.x[i:i + 1]) - data.y[i:i + 1]).square().mean()) for i in shard(range(N))]
    every = [e for part in all_gather_object(errors) for e in part]
    return {"mse": sum(every) / len(every), "count": float(len(every))}


def train(work_dir: Path, batch_size: int, augment: bool = False, num_workers: int = 0, max_epochs: int = 2,
          **options) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Epochs of SGD on the tiny model without BatchNorm (each rank would normalise alone)."""
    from test_engine import NoisyData, TinyNet, mse_step

    torch.manual_seed(0)
    model = TinyNet(norm=False)
    loader = build_dataloader(NoisyData(N, augment=augment), batch_size=batch_size, num_workers=num_workers, seed=3)
    trainer = Trainer(model, loader, mse_step, dict(type="SGD", lr=0.2, momentum=0.9),
                      dict(type="constant"), work_dir, max_epochs=max_epochs, seed=3, progress=False,
                      evaluate=gathered_mse, device="cpu", **options)  # the gloo run's twin, also where CUDA exists
    metrics = trainer.fit()
    return trainer.model.state_dict(), metrics


SCRIPT = """
import sys, torch
sys.path.insert(0, {tests!r})
from hrseg.engine import cleanup, get_rank
import test_engine_ddp as t
work_dir = {work_dir!r}
{body}
torch.save(result, {out!r} + f"/rank{{get_rank()}}.pt")
cleanup()
"""


def two_ranks(tmp_path: Path, body: str, timeout: float) -> list:
    """Run ``body`` (Python that sets ``result``, with ``t`` this module and ``work_dir``
    ``tmp_path/ddp``) in two gloo processes launched by torchrun; each rank's ``result``."""
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), work_dir=str(tmp_path / "ddp"), out=str(tmp_path),
                                    body=textwrap.dedent(body)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": python_path(str(REPO)),
           "CUDA_VISIBLE_DEVICES": ""}  # gloo, CPU
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_union_batch(tmp_path):
    ranks = two_ranks(tmp_path, """
        state, metrics = t.train(work_dir, batch_size=4)
        result = {"state": state, "metrics": metrics}
        """, timeout=120)
    single_state, single_metrics = train(tmp_path / "single", batch_size=8)
    for key, ref in single_state.items():
        assert torch.equal(ranks[0]["state"][key], ranks[1]["state"][key]), key
        torch.testing.assert_close(ranks[0]["state"][key], ref, rtol=1e-5, atol=1e-6)
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    assert ranks[0]["metrics"]["count"] == N
    assert abs(ranks[0]["metrics"]["mse"] - single_metrics["mse"]) < 1e-5
    # only rank 0 wrote the log: one row per epoch, and a checkpoint that resumes on one process
    rows = list(csv.DictReader(open(tmp_path / "ddp" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    state = torch.load(tmp_path / "ddp" / "latest.pth", weights_only=True)
    assert state["meta"]["world_size"] == 2 and len(state["rng"]) == 2 and state["iteration"] == 6


@pytest.mark.slow
def test_persistent_workers_under_ddp_train_as_fresh_ones(tmp_path):
    """Each rank's workers draw their augmentation from streams seeded by (seed, epoch, rank): kept
    for the run (the CUDA default with workers, so multi-GPU runs have it), they give what fresh
    workers give, bit for bit, through DistributedSampler's epochs."""
    ranks = two_ranks(tmp_path, """
        result = {}
        for persistent in (False, True):
            result[str(persistent)], _ = t.train(f"{work_dir}/{persistent}", batch_size=4, augment=True,
                                                 num_workers=2, max_epochs=3, persistent_workers=persistent)
        """, timeout=180)
    assert "persistent workers" in (tmp_path / "ddp" / "True" / "train.log").read_text()
    assert "persistent workers" not in (tmp_path / "ddp" / "False" / "train.log").read_text()
    for key, fresh in ranks[0]["False"].items():
        for rank in ranks:
            assert torch.equal(rank["True"][key], fresh) and torch.equal(rank["False"][key], fresh), key


def test_single_process_helpers_are_no_ops():
    assert get_rank() == 0 and all_gather_object({"a": 1}) == [{"a": 1}]
    assert shard(list(range(5))) == [0, 1, 2, 3, 4]
