"""The speed options of the training loop (hrseg/engine/speed.py): what they resolve to, the data-wait
share in the log, the prefetch depth, the fused optimizer, and the CUDA-graph step (on CUDA, and its
bookkeeping on the CPU through a stand-in for the graph that replays by running the step again)."""
from __future__ import annotations

import contextlib
import csv
import functools
import random
import sys
import types

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import test_engine
from hrseg.engine import TRAIN_DEFAULTS, build_dataloader, graph_step
from hrseg.engine.distributed import with_loader_options
from hrseg.engine.workers import EpochIterator
from hrseg.engine.speed import resolve_speed
from hrseg.engine.trainer import set_loader_epoch
from hrseg.errors import ConfigError
from hrseg.tasks import detection, multi
from test_engine import NoisyData, TinyNet, make_trainer


def test_speed_options_are_off_on_the_cpu_and_on_under_cuda_where_exact():
    cpu = resolve_speed("cpu", num_workers=2)
    assert not (cpu.cudnn_benchmark or cpu.fused_optimizer or cpu.cuda_graph or cpu.gpu_targets or cpu.channels_last)
    assert cpu.device_normalize  # the one option on everywhere: on the CPU the same bits (test_device_normalize.py)
    assert cpu.prefetch_factor is None and cpu.notes == ()  # the CPU path is unchanged
    cuda = resolve_speed("cuda", num_workers=2)
    assert cuda.cudnn_benchmark and cuda.fused_optimizer and cuda.cuda_graph and cuda.gpu_targets
    assert cuda.device_normalize
    assert cuda.prefetch_factor == 4 and cuda.channels_last and cuda.amp_dtype == torch.float16
    assert not resolve_speed("cuda", channels_last=False).channels_last
    assert cuda.grad_scaler and not cpu.grad_scaler and not resolve_speed("cuda", amp=False).grad_scaler
    assert not resolve_speed("cuda", amp_dtype="bfloat16").grad_scaler  # bfloat16 needs no scaler
    exact = resolve_speed("cuda", deterministic=True)
    assert not exact.cudnn_benchmark and not exact.cuda_graph and "train.deterministic" in exact.describe()
    assert not resolve_speed("cuda", distributed=True).cuda_graph
    hooked = resolve_speed("cuda", epoch_hook=True, cuda_graph=True)
    assert not hooked.cuda_graph and "progressive" in hooked.describe()
    assert "needs CUDA" in resolve_speed("cpu", cuda_graph=True).describe()
    dynamic = resolve_speed("cuda", step_note="OHEM syncs")
    assert "OHEM" in dynamic.describe() and not dynamic.channels_last  # NHWC measured on static steps only
    assert resolve_speed("cuda", amp_dtype="bfloat16", fused_optimizer=False).amp_dtype == torch.bfloat16
    # fused SGD with momentum under float16's GradScaler: garbage momentum after a skipped first step
    sgd = dict(type="SGD", lr=0.1, momentum=0.9)
    unfused = resolve_speed("cuda", optimizer=sgd, fused_optimizer=True)
    assert not unfused.fused_optimizer and "fused SGD" in unfused.describe()
    assert resolve_speed("cuda", optimizer=sgd, amp_dtype="bfloat16").fused_optimizer
    assert resolve_speed("cuda", optimizer=sgd, amp=False).fused_optimizer
    assert resolve_speed("cuda", optimizer={**sgd, "momentum": 0}).fused_optimizer
    assert resolve_speed("cuda", optimizer=dict(type="Adam", lr=1e-3)).fused_optimizer
    assert resolve_speed("cuda", num_workers=2).persistent_workers and not cpu.persistent_workers
    assert not resolve_speed("cuda").persistent_workers  # no workers to keep
    hooked = resolve_speed("cuda", num_workers=2, epoch_hook=True, persistent_workers=True)
    assert not hooked.persistent_workers and "persistent_workers off" in hooked.describe()
    unseeded = resolve_speed("cuda", num_workers=2, seeded_loader=False)  # a user's own DataLoader
    assert not unseeded.persistent_workers and "persistent" not in unseeded.describe()  # auto: off, quietly
    asked = resolve_speed("cpu", num_workers=2, seeded_loader=False, persistent_workers=True)
    assert not asked.persistent_workers and "no generator" in asked.describe()
    for bad in ({"amp_dtype": "float8"}, {"prefetch_factor": 0}, {"cuda_graph": "yes"}):
        with pytest.raises(ConfigError, match="train."):
            resolve_speed("cuda", **bad)
    assert set(TRAIN_DEFAULTS["train"]) >= {"deterministic", "cuda_graph", "fused_optimizer", "gpu_targets",
                                           "device_normalize"}


def test_rcnn_steps_say_why_they_are_not_captured():
    # detection and multi-task batches vary and their heads sync with the host: no graph, and NCHW
    steps = {"many sizes": detection.TASK.training_step({"load_from": None}, None, None)[0],
             "R-CNN heads": multi.TASK.training_step({"load_from": None, "loss_weights": {}}, None, None)[0]}
    for why, step in steps.items():
        options = resolve_speed("cuda", step_note=step.no_cuda_graph)
        assert not options.cuda_graph and not options.channels_last and why in options.describe()


def test_data_wait_share_is_logged(tmp_path):
    make_trainer(tmp_path, max_epochs=1).fit()
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert 0.0 <= float(rows[0]["data_wait"]) < 1.0
    assert "% data wait" in (tmp_path / "train.log").read_text().replace("(data wait ", "% data wait ")


def test_prefetch_depth_keeps_the_data(tmp_path):
    loader = build_dataloader(NoisyData(), batch_size=4, num_workers=2, seed=3)
    deeper = with_loader_options(loader, 4)
    assert deeper.prefetch_factor == 4 and with_loader_options(loader, None) is loader
    batches = []
    for dl in (loader, deeper):
        set_loader_epoch(dl, 1, seed=3)
        batches.append([x for x, _ in dl])
    assert all(torch.equal(a, b) for a, b in zip(*batches)) and len(batches[0]) == 3


class EpochData(NoisyData):
    """NoisyData whose samples also show the epoch and draws from torch's and random's global
    streams: what a persistent worker must get right without being forked again."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return x + self.epoch + torch.rand(()) + random.random(), y


def test_persistent_workers_yield_what_fresh_workers_do():
    fresh = build_dataloader(EpochData(), batch_size=4, num_workers=2, seed=3)
    kept = with_loader_options(build_dataloader(EpochData(), batch_size=4, num_workers=2, seed=3), None, True)
    assert kept.persistent_workers and not fresh.persistent_workers and len(kept) == len(fresh) == 3
    epochs = {"fresh": EpochIterator(fresh, 3), "kept": EpochIterator(kept, 3)}
    seen = []
    for epoch in (0, 1, 2, 5, 6):  # 5: a jump (a resumed run) restarts the run's iterator there
        batches = {name: [x for x, _ in read(epoch)] for name, read in epochs.items()}
        assert len(batches["kept"]) == 3 and all(torch.equal(a, b) for a, b in zip(*batches.values()))
        seen.append(torch.cat(batches["kept"]))
        # the workers went on into the next epoch: more indices sent than this epoch has
        assert kept._iterator._send_idx > kept._iterator._num_yielded >= 3
    assert not torch.equal(seen[0], seen[1])  # the same workers, a new epoch
    half = epochs["kept"](7)
    next(half)  # an epoch left unfinished: the next one starts the run's iterator again
    assert torch.equal(torch.cat([x for x, _ in epochs["kept"](8)]), torch.cat([x for x, _ in epochs["fresh"](8)]))
    workers = kept._iterator._workers
    epochs["kept"].close()  # the workers stop now; a later epoch starts new ones
    assert kept._iterator is None and not any(w.is_alive() for w in workers)
    assert torch.equal(torch.cat([x for x, _ in epochs["kept"](9)]), torch.cat([x for x, _ in epochs["fresh"](9)]))
    epochs["kept"].close()
    with pytest.raises(ValueError, match="generator"):  # without one the seeds cannot follow the epochs
        with_loader_options(DataLoader(EpochData(), batch_size=4, num_workers=2), None, True)


def test_trainer_with_persistent_workers_trains_as_with_fresh_ones(tmp_path):
    runs, workers = [], []

    def evaluate(model):  # between epochs: the persistent iterator's workers are alive
        iterator = runs[-1].loader._iterator
        workers.extend(iterator._workers if iterator is not None else [])
        return test_engine.score(model)

    for persistent in (False, True):
        runs.append(make_trainer(tmp_path / str(persistent), max_epochs=3, num_workers=2, device="cpu",
                                 persistent_workers=persistent, evaluate=evaluate))
        runs[-1].fit()
    assert runs[1].loader.persistent_workers and "persistent workers" in runs[1].speed.describe()
    # fit stops them, not the garbage collector whenever it takes the Trainer (the DataLoader's queues
    # finalised first, the workers wait out a 5-second join timeout each)
    assert len(workers) == 4 and not any(w.is_alive() for w in workers) and runs[1].loader._iterator is None
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b)


def test_resumed_run_with_persistent_workers_continues_exactly(tmp_path):
    # the run's one iterator starts again at the resumed epoch, mid-run
    run = functools.partial(make_trainer, num_workers=2, device="cpu", save_every=1)
    full = run(tmp_path / "full")
    full.fit()
    calls = {"n": 0}

    def crashing_step(model, batch):  # dies in epoch 3 (3 iterations per epoch)
        calls["n"] += 1
        if calls["n"] == 8:
            raise test_engine.Interrupt
        return test_engine.mse_step(model, batch)

    with pytest.raises(test_engine.Interrupt):
        run(tmp_path / "cut", step=crashing_step, persistent_workers=True).fit()
    resumed = run(tmp_path / "cut", resume=True, persistent_workers=True)
    assert resumed.epoch == 2 and resumed.loader.persistent_workers
    resumed.fit()
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_fused_optimizer_is_the_same_update(tmp_path):
    # the fused kernel runs on the CPU too (off by default there): a check of the wiring
    # SGD: Adam's first steps divide by the gradients' size, which turns last-bit differences of
    # near-zero gradients into whole steps; SGD's update is linear in them
    make_trainer = functools.partial(test_engine.make_trainer, optimizer_cfg=dict(type="SGD", lr=0.05, momentum=0.9))
    plain = make_trainer(tmp_path / "a", max_epochs=1, device="cpu")
    plain.fit()  # the global random streams: each trainer seeds them and fits before the next
    fused = make_trainer(tmp_path / "b", max_epochs=1, device="cpu", fused_optimizer=True)
    fused.fit()
    assert fused.optimizer.defaults["fused"] and not plain.optimizer.defaults.get("fused")
    for a, b in zip(plain.model.parameters(), fused.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


class BatchNormNoDropout(TinyNet):
    """BatchNorm (its running statistics are captured too) without Dropout, whose random masks
    come from another stream offset in a graph."""

    def __init__(self, norm: bool = True):
        super().__init__(norm)
        self.body[3] = nn.Identity()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_step_trains_as_the_eager_step(tmp_path, monkeypatch):
    monkeypatch.setattr(test_engine, "TinyNet", BatchNormNoDropout)
    sgd = dict(type="SGD", lr=0.05, momentum=0.9)
    runs = {}
    for graph in (False, True):
        trainer = make_trainer(tmp_path / str(graph), max_epochs=2, optimizer_cfg=sgd, cuda_graph=graph,
                               cudnn_benchmark=False)
        trainer.fit()
        runs[graph] = trainer
    graphed = runs[True].graphed
    assert graphed.graph is not None and graphed.eager_batches == 0 and graphed.disabled is None
    for (k, a), b in zip(runs[False].model.state_dict().items(), runs[True].model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)  # BatchNorm's running statistics too
    with pytest.raises(FloatingPointError):  # a non-finite loss is still caught after a replay
        make_trainer(tmp_path / "nan", max_epochs=1, cuda_graph=True,
                     step=lambda m, b: {"loss": m(b[0]).mean() * float("nan")}).fit()


class StandInGraph:
    """torch.cuda.CUDAGraph's part in GraphedStep, on the CPU: a capture runs nothing (the body runs
    here, then its effect on BatchNorm's statistics is undone), a replay runs the captured step
    again and writes its outputs and gradients into the tensors of the capture."""

    def __init__(self):
        self.step = None

    @contextlib.contextmanager
    def capture(self, capture_error_mode="global"):
        frame = sys._getframe(1)
        while not isinstance(frame.f_locals.get("self"), graph_step.GraphedStep):
            frame = frame.f_back
        self.step = frame.f_locals["self"]  # the GraphedStep capturing
        saved = [b.clone() for b in self.step.model.buffers()]
        yield
        self.grads = [p.grad for p in self.step.params]  # where the replays write the gradients
        with torch.no_grad():
            for s, b in zip(saved, self.step.model.buffers()):
                b.copy_(s)

    def replay(self):
        params = self.step.params
        current = [p.grad for p in params]
        for p in params:
            p.grad = None
        out = self.step.run(self.step.static_batch)
        with torch.no_grad():
            for k, v in out.items():
                self.step.static_out[k].copy_(v)
            for p, g, now in zip(params, self.grads, current):
                g.copy_(p.grad)
                p.grad = now  # a replay writes into the captured tensors, whatever p.grad holds


def test_graph_step_bookkeeping_equals_the_eager_step(tmp_path, monkeypatch):
    """With a stand-in for the graph, the graph step's bookkeeping (warm-up leaving no trace, static
    gradients kept across an eager batch of another shape, outputs) trains bit for bit as the eager
    step, on the CPU. The last batch of each epoch has 2 images instead of 4 and runs eagerly."""
    side = types.SimpleNamespace(wait_stream=lambda s: None)
    for name, value in dict(CUDAGraph=StandInGraph, graph=lambda g, **kw: g.capture(**kw), Stream=lambda: side,
                            stream=lambda s: contextlib.nullcontext(), current_stream=lambda: side,
                            get_rng_state=torch.get_rng_state, set_rng_state=torch.set_rng_state).items():
        monkeypatch.setattr(torch.cuda, name, value)
    monkeypatch.setattr(test_engine, "TinyNet", BatchNormNoDropout)
    runs = {}
    for graphed in (False, True):
        trainer = make_trainer(tmp_path / str(graphed), max_epochs=2, data=NoisyData(14), device="cpu")
        if graphed:
            trainer.graphed = graph_step.GraphedStep(trainer.forward_backward, trainer.wrapped)
        trainer.fit()
        runs[graphed] = trainer
    assert runs[True].graphed.graph is not None and runs[True].graphed.eager_batches == 2
    for (k, a), b in zip(runs[False].model.state_dict().items(), runs[True].model.state_dict().values()):
        assert torch.equal(a, b), k
    rows = [list(csv.DictReader(open(tmp_path / str(g) / "log.csv"))) for g in (False, True)]
    assert [r["loss"] for r in rows[0]] == [r["loss"] for r in rows[1]]

