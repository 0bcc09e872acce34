"""The training engine: exact resume, checkpoints, logs, schedules, error reporting."""
from __future__ import annotations

import csv
import functools
import json
import math
import multiprocessing
import re
import sys
import types

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from hrseg.engine import TRAIN_DEFAULTS, Trainer, build_dataloader, build_optimizer, build_scheduler, load_state
from hrseg.engine.workers import EpochIterator
from hrseg.errors import CheckpointError, ConfigError
from hrseg.utils.provenance import command_line, provenance_footer


class TinyNet(nn.Module):
    def __init__(self, norm: bool = True):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8) if norm else nn.Identity(),
                                  nn.ReLU(), nn.Dropout2d(0.1) if norm else nn.Identity(), nn.Conv2d(8, 1, 1))

    def forward(self, x):
        return self.body(x)


class NoisyData(Dataset):
    """Random seeded images; a flip and noise drawn from numpy's global generator (augmentation)."""

    def __init__(self, n: int = 12, augment: bool = True):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, 8, 8, generator=g)
        self.y = self.x.mean(1, keepdim=True) * 2
        self.augment = augment
        self.num_skipped = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x, y = self.x[i], self.y[i]
        if self.augment:
            if np.random.rand() < 0.5:
                x, y = x.flip(-1), y.flip(-1)
            x = x + torch.from_numpy(np.random.randn(*x.shape).astype(np.float32)) * 0.05
        return x, y


def mse_step(model, batch):
    x, y = batch
    out = model(x)
    return {"loss": nn.functional.mse_loss(out, y), "l1": (out - y).abs().mean().detach()}


def score(model):
    """A metric that also draws from numpy, as an evaluation with random crops would."""
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(7))
    x = x.to(next(model.parameters()).device)  # the trainer moved the model (CUDA where there is one)
    return {"score": -float(model(x).square().mean()), "noise": float(np.random.rand())}


OPTIM = dict(type="AdamW", lr=1e-2, weight_decay=1e-4)
SCHEDULE = dict(type="cosine", warmup_iters=3, warmup_ratio=0.1)


def make_trainer(work_dir, max_epochs=4, step=mse_step, num_workers=0, data=None, optimizer_cfg=OPTIM, norm=True,
                 **kw):
    torch.manual_seed(123)  # the task builds its model after seeding; resume overwrites it anyway
    loader = build_dataloader(data or NoisyData(), batch_size=4, num_workers=num_workers, seed=5)
    kw = {"evaluate": score, "eval_interval": 2, "seed": 5, "grad_clip": 1.0, "progress": False, **kw}
    return Trainer(TinyNet(norm), loader, step, optimizer_cfg, SCHEDULE, work_dir, max_epochs, **kw)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_continues_exactly(tmp_path, num_workers):
    # bit for bit on the CPU always; on CUDA with train.deterministic (no autotuning, no CUDA graph)
    make_trainer = functools.partial(globals()["make_trainer"], deterministic=True)
    full = make_trainer(tmp_path / "full", num_workers=num_workers, save_every=2)
    full_metrics = full.fit()

    calls = {"n": 0}

    def crashing_step(model, batch):  # dies in the middle of epoch 3 (3 iterations per epoch)
        calls["n"] += 1
        if calls["n"] == 8:
            raise Interrupt
        return mse_step(model, batch)

    with pytest.raises(Interrupt):
        make_trainer(tmp_path / "cut", step=crashing_step, num_workers=num_workers).fit()
    assert load_state(tmp_path / "cut" / "latest.pth")["epoch"] == 2
    resumed = make_trainer(tmp_path / "cut", num_workers=num_workers, resume=True)
    assert (resumed.epoch, resumed.iteration) == (2, 6)
    metrics = resumed.fit()

    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert metrics == full_metrics
    rows = list(csv.DictReader(open(tmp_path / "cut" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    full_rows = list(csv.DictReader(open(tmp_path / "full" / "log.csv")))
    assert [r["loss"] for r in rows] == [r["loss"] for r in full_rows]
    finished = make_trainer(tmp_path / "cut", num_workers=num_workers, resume=True)  # the run is done: it says so
    assert finished.epoch == 4 and "latest.pth finished all 4 epochs: nothing left to train" in (
        tmp_path / "cut" / "train.log").read_text()


def test_run_outputs(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=3, save_every=1, config={"optimizer": OPTIM, "tags": ("a", 1)})
    metrics = trainer.fit()
    assert set(metrics) == {"score", "noise"}
    for name in ("latest.pth", "best.pth", "epoch_1.pth", "epoch_3.pth", "log.csv", "curves.png",
                 "metrics.json", "train.log"):
        assert (tmp_path / name).is_file(), name
    state = torch.load(tmp_path / "latest.pth", weights_only=True)
    assert state["epoch"] == 3 and state["iteration"] == 9
    assert state["meta"]["config"] == {"optimizer": OPTIM, "tags": ["a", 1]}
    assert {"python", "numpy", "torch", "cuda"} <= set(state["rng"][0])
    assert not any(k.startswith("module.") for k in state["state_dict"])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert {"epoch", "iteration", "lr", "loss", "l1", "images_per_s", "time", "cpu_time", "skipped",
            "val/score"} <= set(rows[0])
    assert all(float(r["cpu_time"]) > 0 for r in rows)  # the training loop's process CPU seconds
    assert rows[0]["val/score"] == "" and rows[1]["val/score"] != ""  # evaluated at epochs 2 and 3
    # the lr of the epoch's last step (3 steps an epoch), as mmengine and the official code log it
    assert float(rows[0]["lr"]) == pytest.approx(lrs(OPTIM, SCHEDULE, 3, 3)[2])
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["metrics"] == metrics and summary["best"]["metric"] == "score"
    assert "epoch 3/3 | loss" in (tmp_path / "train.log").read_text()
    # where the run was made, in the summary and along the bottom of its curves (and in the PNG's text)
    made = summary["provenance"]
    assert re.match(r"\d+-core .*torch ", made["machine"]) and made["command"] == command_line()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", made["date"])
    with Image.open(tmp_path / "curves.png") as curves:
        assert curves.text["Description"] == provenance_footer(made)


def test_tensorboard_when_importable(tmp_path, monkeypatch):
    events = []

    class FakeWriter:
        def __init__(self, log_dir, purge_step=None):
            events.append(("open", log_dir, purge_step))

        def add_scalar(self, tag, value, step):
            events.append((tag, step))

        def close(self):
            events.append(("close",))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    make_trainer(tmp_path, max_epochs=2, log_interval=2).fit()
    assert events[0] == ("open", str(tmp_path / "tb"), None) and events[-1] == ("close",)
    assert ("train/loss", 2) in events and ("train/lr", 3) in events and ("val/score", 6) in events


def test_trainer_takes_the_config_sections(tmp_path):
    """As a tool calls it: the optimizer, schedule and train sections of a loaded config."""
    train = {**TRAIN_DEFAULTS["train"], "max_epochs": 1}
    loader = build_dataloader(NoisyData(), batch_size=4)
    trainer = Trainer(TinyNet(), loader, mse_step, TRAIN_DEFAULTS["optimizer"], TRAIN_DEFAULTS["schedule"],
                      tmp_path, **train, progress=False)
    trainer.fit()
    assert isinstance(trainer.optimizer, torch.optim.Adam) and trainer.lr == 1e-3


def test_checkpoint_of_a_real_model_loads_for_inference(tmp_path):
    import hrseg

    model = hrseg.build_model("pose_hrnet_w18_small_v1")
    data = torch.utils.data.TensorDataset(torch.randn(2, 3, 64, 48), torch.rand(2, 17, 16, 12))
    step = lambda m, b: {"loss": nn.functional.mse_loss(m(b[0]), b[1])}  # noqa: E731
    Trainer(model, build_dataloader(data, batch_size=2), step, dict(type="Adam", lr=1e-3),
            dict(type="multistep"), tmp_path, max_epochs=1, progress=False).fit()
    fresh = hrseg.build_model("pose_hrnet_w18_small_v1")
    assert hrseg.load_checkpoint(fresh, tmp_path / "latest.pth").not_loaded == []
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a.cpu(), b)  # the trainer moved the model to its device (CUDA where there is one)


def test_best_checkpoint_follows_mode(tmp_path):
    values = iter([3.0, 1.0, 2.0])
    trainer = make_trainer(tmp_path, max_epochs=3, eval_interval=1, best_mode="min",
                           evaluate=lambda model: {"err": next(values)})
    trainer.fit()
    assert trainer.best == {"metric": "err", "value": 1.0, "epoch": 2}
    assert load_state(tmp_path / "best.pth")["epoch"] == 2


class Skipping(NoisyData):
    """One unreadable image per epoch, counted in a shared Value as a dataset with workers does."""

    def __init__(self):
        super().__init__()
        self.num_skipped = multiprocessing.Value("l", 0)

    def __getitem__(self, i):
        if i == 0:
            with self.num_skipped.get_lock():
                self.num_skipped.value += 1
        return super().__getitem__(i)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_skipped_samples_are_counted_per_epoch(tmp_path, num_workers):
    make_trainer(tmp_path, max_epochs=2, data=Skipping(), num_workers=num_workers).fit()
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["skipped"] for r in rows] == ["1", "1"]
    assert "skipped 1" in (tmp_path / "train.log").read_text()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_checkpoint_is_reported(tmp_path, damage):
    make_trainer(tmp_path, max_epochs=1).fit()
    path = tmp_path / "latest.pth"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a checkpoint")
    with pytest.raises(CheckpointError, match="latest.pth"):
        make_trainer(tmp_path, resume=True)


def test_resume_rejects_weights_only_file_and_missing_path(tmp_path):
    torch.save({"state_dict": TinyNet().state_dict()}, tmp_path / "weights.pth")
    with pytest.raises(CheckpointError, match="weights.pth: not a training checkpoint"):
        make_trainer(tmp_path, resume=tmp_path / "weights.pth")
    with pytest.raises(CheckpointError, match="nothing.pth"):
        make_trainer(tmp_path, resume=tmp_path / "nothing.pth")
    assert make_trainer(tmp_path / "fresh", resume=True).epoch == 0  # nothing to resume: a fresh start


def test_a_failed_evaluation_keeps_the_epochs_training(tmp_path):
    def failing(model):  # e.g. a val image missing on disk, found only when the evaluation reads it
        raise ConfigError("val.json: an image file is missing")

    with pytest.raises(ConfigError, match="val.json"):
        make_trainer(tmp_path, max_epochs=2, evaluate=failing).fit()
    state = load_state(tmp_path / "latest.pth")
    assert (state["epoch"], state["iteration"], state["metrics"]) == (2, 6, {})
    assert [r["epoch"] for r in csv.DictReader(open(tmp_path / "log.csv"))] == ["1", "2"]
    assert not (tmp_path / "best.pth").exists()
    assert make_trainer(tmp_path, max_epochs=2, resume=True).epoch == 2
    resumed = make_trainer(tmp_path, max_epochs=2, resume=True, seed=6)  # the data order must not change
    assert resumed.seed == 5
    assert "(seed 5; seed 6 not used: the run keeps its own)" in (tmp_path / "train.log").read_text()


def test_resume_into_another_model_is_one_line(tmp_path):
    make_trainer(tmp_path, max_epochs=1).fit()
    with pytest.raises(CheckpointError) as error:
        make_trainer(tmp_path, resume=True, norm=False)  # the checkpoint has BatchNorm, this model none
    message = str(error.value)
    assert "latest.pth" in message and "unexpected 5 keys: body.1" in message and "\n" not in message


def test_train_step_contract_and_nan(tmp_path):
    with pytest.raises(TypeError, match="'loss'"):
        make_trainer(tmp_path / "a", step=lambda m, b: m(b[0]).mean()).fit()
    with pytest.raises(FloatingPointError, match="non-finite"):
        make_trainer(tmp_path / "b", step=lambda m, b: {"loss": m(b[0]).mean() * float("nan")}).fit()


def test_cpu_is_fp32_and_one_process_keeps_plain_bn(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one process: nothing to warn about, the log says it
        trainer = make_trainer(tmp_path, sync_bn=True, amp=True, device="cpu")
    assert not trainer.amp and not trainer.scaler.is_enabled()
    assert isinstance(trainer.model.body[1], nn.BatchNorm2d)
    log = (tmp_path / "train.log").read_text()
    assert "one process, plain BatchNorm" in log and "train.sync_bn" in log


def test_linear_lr_scaling_is_applied_logged_and_switchable(tmp_path):
    # make_trainer's loader: batch 4, one process; a recipe written for 16 images per step
    scaled = make_trainer(tmp_path / "a", optimizer_cfg={**OPTIM, "reference_batch": 16})
    base_lr = lambda t: t.optimizer.param_groups[0]["initial_lr"]  # noqa: E731 (before warmup)
    assert base_lr(scaled) == pytest.approx(OPTIM["lr"] * 4 / 16)
    assert f"x 4/16 = {OPTIM['lr'] * 4 / 16:g}" in (tmp_path / "a" / "train.log").read_text()
    kept = make_trainer(tmp_path / "b", optimizer_cfg={**OPTIM, "reference_batch": 16, "auto_scale": False})
    assert base_lr(kept) == pytest.approx(OPTIM["lr"])
    assert "auto_scale=False" in (tmp_path / "b" / "train.log").read_text()
    same = make_trainer(tmp_path / "c", optimizer_cfg={**OPTIM, "reference_batch": 4})
    assert base_lr(same) == pytest.approx(OPTIM["lr"])


def test_multistep_step_at_start_drops_one_epoch_earlier():
    sched = dict(type="multistep", milestones=[2, 4], gamma=0.1)
    plain = lrs(dict(type="SGD", lr=1.0), sched, 1, 5)
    early = lrs(dict(type="SGD", lr=1.0), {**sched, "step_at_start": True}, 1, 5)
    assert plain == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    # the official pose loop: lr_scheduler.step() before each epoch -> epoch e at #(m <= e + 1)
    assert early == pytest.approx([1, 0.1, 0.1, 0.01, 0.01])


def lrs(optimizer_cfg, schedule, iters_per_epoch, max_epochs):
    opt = build_optimizer(nn.Linear(2, 2), optimizer_cfg)
    sched = build_scheduler(opt, schedule, iters_per_epoch, max_epochs)
    out = []
    for _ in range(iters_per_epoch * max_epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_multistep_is_the_official_pose_schedule():
    lr = lrs(dict(type="Adam", lr=1e-3), dict(type="multistep", milestones=[170, 200], gamma=0.1), 2, 210)
    per_epoch = lr[::2]
    assert per_epoch[169] == pytest.approx(1e-3) and per_epoch[170] == pytest.approx(1e-4)
    assert per_epoch[199] == pytest.approx(1e-4) and per_epoch[200] == pytest.approx(1e-5)
    assert per_epoch[209] == pytest.approx(1e-5)


def test_poly_cosine_warmup():
    sgd = dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=5e-4, nesterov=True)
    poly = lrs(sgd, dict(type="poly", power=0.9), 10, 10)
    assert poly[0] == pytest.approx(0.01) and poly[50] == pytest.approx(0.01 * 0.5 ** 0.9)
    assert poly[-1] == pytest.approx(0.01 * 0.01 ** 0.9)
    cos = lrs(sgd, dict(type="cosine", min_lr=1e-4), 10, 10)
    assert cos[50] == pytest.approx(1e-4 + (0.01 - 1e-4) * 0.5)
    warm = lrs(sgd, dict(type="constant", warmup_iters=4, warmup_ratio=0.1), 10, 1)
    assert warm[:5] == pytest.approx([0.001, 0.00325, 0.0055, 0.00775, 0.01])
    epochwise = lrs(sgd, dict(type="poly", by_epoch=True), 10, 10)
    assert epochwise[10:20] == [epochwise[10]] * 10


def test_epoch_summary_and_log_csv_show_the_lr_of_the_epochs_last_step(tmp_path):
    # SCHEDULE: 3 warmup iterations from 0.1 * lr, then cosine; 3 iterations per epoch, 6 in all
    make_trainer(tmp_path, max_epochs=2, evaluate=None).fit()
    per_step = lrs(OPTIM, SCHEDULE, 3, 2)
    assert len({f"{v:.3g}" for v in per_step}) == 6  # each epoch's first, last and the next one's first differ
    last = [per_step[2], per_step[5]]
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [float(r["lr"]) for r in rows] == pytest.approx(last)
    summaries = [line for line in (tmp_path / "train.log").read_text().splitlines() if line.startswith("epoch ")]
    assert [line.split(" | ")[2] for line in summaries] == [f"lr {v:.3g}" for v in last]


def test_optimizer_and_schedule_config_errors():
    model = nn.Linear(2, 2)
    sgd = build_optimizer(model, dict(type="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4, betas=[0.9, 0.99]))
    group = sgd.param_groups[0]
    assert isinstance(sgd, torch.optim.SGD) and group["nesterov"] and group["weight_decay"] == 1e-4
    with pytest.raises(ConfigError, match=r"optimizer\.lrr.*did you mean lr"):
        build_optimizer(model, dict(type="Adam", lrr=1e-3))
    with pytest.raises(ConfigError, match="did you mean adam, adamw"):
        build_optimizer(model, dict(type="AdamV", lr=1e-3))
    with pytest.raises(ConfigError, match="did you mean multistep"):
        build_scheduler(sgd, dict(type="mutlistep"), 1, 1)
    with pytest.raises(ConfigError, match=r"schedule\.milestone.*did you mean milestones"):
        build_scheduler(sgd, dict(type="multistep", milestone=[1]), 1, 1)


def test_head_lr_mult_gives_the_non_backbone_parameters_a_larger_lr():
    model = nn.Sequential()
    model.add_module("backbone", nn.Linear(2, 2))
    model.add_module("head", nn.Linear(2, 1))
    opt = build_optimizer(model, dict(type="sgd", lr=0.01, momentum=0.9, head_lr_mult=10))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.1])
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]
    sched = build_scheduler(opt, dict(type="poly", power=1.0), 10, 1)
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.009, 0.09])
    with pytest.raises(ConfigError, match="backbone"):
        build_optimizer(nn.Linear(2, 2), dict(type="sgd", lr=0.01, head_lr_mult=10))


def test_seeded_loader_order_is_fixed_by_seed_and_epoch():
    from hrseg.engine.trainer import set_loader_epoch

    def order(epoch, seed):
        loader = build_dataloader(list(range(10)), batch_size=10, seed=seed)
        set_loader_epoch(loader, epoch, seed)
        return next(iter(loader)).tolist()

    assert order(0, 1) == order(0, 1) and order(0, 1) != order(1, 1) and order(0, 1) != order(0, 2)
    assert not math.isnan(sum(order(3, 1)))



def test_a_run_resumed_into_another_folder_takes_its_best_along(tmp_path):
    """`--work-dir new --resume old/latest.pth` left no best.pth in new/ while metrics.json named
    the best epoch; an older epoch's file takes the best only when it is that file's best."""
    first = make_trainer(tmp_path / "old", max_epochs=2, save_every=1)
    first.fit()
    best_epoch = first.best["epoch"]
    resumed = make_trainer(tmp_path / "new", max_epochs=2, resume=str(tmp_path / "old" / "latest.pth"))
    assert load_state(tmp_path / "new" / "best.pth")["epoch"] == best_epoch == resumed.best["epoch"]
    # epoch 1 was not evaluated (eval_interval 2): its state names no best, and best.pth is not its own
    assert load_state(tmp_path / "old" / "epoch_1.pth")["best"].get("epoch") is None
    make_trainer(tmp_path / "other", max_epochs=2, resume=str(tmp_path / "old" / "epoch_1.pth"))
    assert not (tmp_path / "other" / "best.pth").exists()


class OpenCvThreads(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return torch.tensor([cv2.getNumThreads(), torch.get_num_threads()])


def test_a_worker_runs_opencv_and_torch_on_one_thread_each():
    """OpenCV kept a pool as large as the machine in every DataLoader worker (14 workers x 16 threads)."""
    threads = cv2.getNumThreads()
    loader = build_dataloader(OpenCvThreads(), batch_size=2, shuffle=False, num_workers=1)
    cv2.setNumThreads(3)  # a pool a worker would inherit
    try:
        assert next(iter(loader)).tolist() == [[3, 1], [3, 1]]
        assert next(EpochIterator(loader, seed=0)(0)).tolist() == [[1, 1], [1, 1]]  # the Trainer's way
        assert cv2.getNumThreads() == 3  # the training process keeps its own pool
    finally:
        cv2.setNumThreads(threads)
