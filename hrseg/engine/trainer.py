"""The epoch loop shared by every task (pose, segmentation, detection).

A task plugs in with plain callables and config dicts; the engine knows nothing about
keypoints or classes::

    loader = build_dataloader(train_set, batch_size=32, num_workers=4, seed=cfg["seed"])
    trainer = Trainer(model, loader, train_step, cfg["optimizer"], cfg["schedule"],
                      cfg["work_dir"], seed=cfg["seed"], resume=cfg["resume"], config=cfg,
                      evaluate=evaluate, **cfg["train"])
    metrics = trainer.fit()

``train_step(model, batch) -> {'loss': tensor, other terms...}`` runs the forward pass and the loss (under
autocast when AMP is on; the batch is already on the device); the engine does the backward pass, gradient
scaling and clipping, the optimizer and schedule steps. It is given the DDP-wrapped model when distributed: call
it through ``forward``, as DDP synchronises gradients from there. The step's attributes speak with the engine:
``no_cuda_graph`` says why it cannot be captured, ``use_speed(options)`` takes the run's resolved speed options
(:mod:`hrseg.engine.speed`). ``evaluate(model) -> {'AP': 0.71, ...}`` gets the bare model in eval mode under
``no_grad``; it runs on every rank (shard the data and gather with ``all_gather_object`` to use them all) and
rank 0's metrics are the run's.
A dataset may count the images it had to skip (:func:`hrseg.engine.batches.num_skipped`); the epoch summary
shows each epoch's increase.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from hrseg.checkpoint import load_state
from hrseg.engine import checkpoint_io as ckpt
from hrseg.engine.batches import batch_size_of, num_skipped, set_loader_epoch, to_device  # noqa: F401  (re-exported)
from hrseg.engine.distributed import (
    all_gather_object, all_reduce, batchnorm_mode, broadcast_object, default_device, get_rank, get_world_size,
    init_distributed, unwrap, with_loader_options, wrap_model,
)
from hrseg.engine.graph_step import GraphedStep
from hrseg.engine.logging import RunLogger, check_finite, epoch_line
from hrseg.engine.schedules import (PARAMWISE_DEFAULTS, SCHEDULE_DEFAULTS, build_optimizer, build_scheduler,
                                    iteration_plan, scale_lr)
from hrseg.engine.speed import SPEED_DEFAULTS, compile_regions, configure_kernels, resolve_speed, tell_step
from hrseg.engine.workers import EpochIterator
from hrseg.utils.progress import progress_bar
from hrseg.errors import CheckpointError, ConfigError, DataError

_END = object()  # the end of an epoch's batches
TrainStep = Callable[[nn.Module, Any], Mapping[str, torch.Tensor]]
Evaluate = Callable[[nn.Module], Mapping[str, float]]

# The engine's config keys and defaults (the official pose recipe); a task tool merges its own
# keys into these and passes the result to hrseg.config.load_config as the schema.
TRAIN_DEFAULTS: dict[str, Any] = dict(
    work_dir=None,
    seed=0,
    resume=None,
    # reference_batch: the total batch the lr was set for (linear scaling, see schedules.scale_lr)
    optimizer=dict(type="Adam", lr=1e-3, head_lr_mult=1.0, weight_decay=0.0, momentum=0.9, nesterov=False,
                   betas=[0.9, 0.999], eps=1e-8, auto_scale=True, reference_batch=None, **PARAMWISE_DEFAULTS),
    schedule=dict(SCHEDULE_DEFAULTS),
    # the speed options (deterministic, cudnn_benchmark, fused_optimizer, cuda_graph, ...): engine/speed.py
    train=dict(max_epochs=210, max_iters=None, eval_interval=10, save_every=0, amp=True, grad_clip=None,
               sync_bn=False, best_metric=None, best_mode="max", log_interval=20, **SPEED_DEFAULTS),
)


class Trainer:
    """Train ``model`` for ``max_epochs``; see the module docstring. Options:

    max_iters: the run's length in iterations instead (mmsegmentation's IterBasedRunner; a loader that drops its
        last batch): ceil(max_iters / len(loader)) epochs, the last one cut; the schedule runs down over it.
    eval_interval: evaluate every N epochs (and always after the last one).
    best_metric / best_mode: the metric that selects ``best.pth`` (default: the first one
        ``evaluate`` returns) and whether higher ('max') or lower ('min') is better.
    seed: seeds python/numpy/torch (plus the rank) and the data order; None draws one.
    amp: mixed precision on CUDA (``amp_dtype`` float16 autocast + GradScaler, or bfloat16 without
        a scaler); CPU always trains in fp32.
    grad_clip: max global gradient norm (None = no clipping).
    resume: True = continue from ``work_dir/latest.pth`` if present, or a checkpoint path.
    save_every: also keep ``epoch_{n}.pth`` every n epochs (0 = only latest and best).
    sync_bn: SyncBatchNorm across processes (CUDA only; the log says which BatchNorm runs).
    optimizer_cfg: ``reference_batch`` / ``auto_scale`` apply the linear scaling rule to the lr
        for this run's total batch (loader batch x processes), logged at the start.
    config: the run's config, stored under ``meta`` in every checkpoint.
    model_meta: what the model predicts and expects (classes or keypoints, input size, mean/std),
        stored as ``meta.model`` in every checkpoint.
    device: default ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU.
    log_interval: iterations between progress-bar / TensorBoard updates (each one syncs).
    progress: show the tqdm bar (rank 0 only). find_unused_parameters: passed to DDP.
    deterministic, cudnn_benchmark, fused_optimizer, channels_last, cuda_graph, gpu_targets, device_normalize,
        amp_dtype, prefetch_factor, persistent_workers, compile: the speed options, automatic (None) = on under
        CUDA where exact, else off (device_normalize: on everywhere, the same bits; compile: off until measured;
        :mod:`hrseg.engine.speed`); ``speed`` holds what they resolved to.
    epoch_hook: ``hook(epoch, trainer)`` called at the start of every epoch (0-based, resumed
        epochs included) before its data is drawn, e.g. to change the input size and the
        regularization (:class:`hrseg.engine.progressive.ProgressiveHook`).
    """

    def __init__(self, model: nn.Module, train_loader: DataLoader, train_step: TrainStep,
                 optimizer_cfg: Mapping[str, Any], schedule_cfg: Mapping[str, Any],
                 work_dir: str | os.PathLike, max_epochs: int, *, evaluate: Evaluate | None = None,
                 eval_interval: int = 1, best_metric: str | None = None, best_mode: str = "max",
                 seed: int | None = 0, amp: bool = True, grad_clip: float | None = None,
                 resume: bool | str | os.PathLike | None = None, save_every: int = 0, sync_bn: bool = False,
                 device: str | torch.device | None = None, max_iters: int | None = None,
                 config: Mapping[str, Any] | None = None, model_meta: Mapping[str, Any] | None = None,
                 log_interval: int = 20, progress: bool = True, find_unused_parameters: bool = False,
                 deterministic: bool = False, epoch_hook: Callable[[int, "Trainer"], None] | None = None,
                 cudnn_benchmark: bool | None = None, fused_optimizer: bool | None = None,
                 channels_last: bool | None = None, cuda_graph: bool | None = None, gpu_targets: bool | None = None,
                 amp_dtype: str = "float16", prefetch_factor: int | None = None, compile: bool | None = None,
                 persistent_workers: bool | None = None, device_normalize: bool | None = None):
        if not isinstance(train_loader, DataLoader):
            raise TypeError(f"train_loader must be a DataLoader (build_dataloader), got {type(train_loader).__name__}")
        if int(eval_interval) < 1 or best_mode not in ("max", "min"):  # a config's are checked when read
            raise ConfigError(f"train.eval_interval >= 1 and train.best_mode 'max' or 'min' expected, got "
                              f"{eval_interval!r} and {best_mode!r}")
        distributed = init_distributed()
        if distributed and not isinstance(train_loader.sampler, DistributedSampler):
            raise ValueError("distributed training needs a DistributedSampler: build the loader "
                             "with build_dataloader after init_distributed()")
        self.rank, self.world_size = get_rank(), get_world_size()
        self.is_main = self.rank == 0
        self.work_dir = Path(work_dir)
        self.loader, self.train_step, self.evaluate, self.epoch_hook = train_loader, train_step, evaluate, epoch_hook
        self.max_epochs, self.eval_interval, self.save_every = int(max_epochs), int(eval_interval), int(save_every)
        self.max_iters, plan = int(max_iters or 0) or None, ""
        if self.max_iters:
            self.max_epochs, plan = iteration_plan(self.max_iters, len(train_loader))
        self.best_metric, self.best_mode, self.grad_clip = best_metric, best_mode, grad_clip
        self.log_interval, self.progress = max(1, int(log_interval)), progress
        self.config, self.model_meta = dict(config or {}), dict(model_meta or {})
        self.device = torch.device(device) if device is not None else default_device()
        self.speed = resolve_speed(self.device, deterministic=deterministic, cudnn_benchmark=cudnn_benchmark,
                                   fused_optimizer=fused_optimizer, channels_last=channels_last, cuda_graph=cuda_graph,
                                   gpu_targets=gpu_targets, device_normalize=device_normalize, amp_dtype=amp_dtype,
                                   prefetch_factor=prefetch_factor, distributed=self.world_size > 1,
                                   epoch_hook=epoch_hook is not None, num_workers=train_loader.num_workers,
                                   step_note=getattr(train_step, "no_cuda_graph", None), amp=amp,
                                   optimizer=optimizer_cfg, persistent_workers=persistent_workers, compile=compile,
                                   seeded_loader=train_loader.generator is not None)
        configure_kernels(self.speed)
        tell_step(train_step, self.speed)  # e.g. what the task's workers leave to the device
        self.loader = with_loader_options(train_loader, self.speed.prefetch_factor, self.speed.persistent_workers)
        self.amp = bool(amp) and self.device.type == "cuda"

        if self.speed.channels_last:
            model.to(memory_format=torch.channels_last)
        self.wrapped = wrap_model(model, self.device, sync_bn, find_unused_parameters)
        self.model = unwrap(self.wrapped)
        self.compiled_regions = compile_regions(self.model) if self.speed.compile else 0  # SyncBN in place already
        total_batch = (train_loader.batch_size or 1) * self.world_size
        optimizer_cfg, lr_note = scale_lr(optimizer_cfg, total_batch)
        self.optimizer = build_optimizer(self.model, optimizer_cfg, fused=self.speed.fused_optimizer)
        self.scheduler = build_scheduler(self.optimizer, schedule_cfg, len(train_loader), self.max_epochs,
                                         self.max_iters)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.speed.grad_scaler)
        self.graphed = GraphedStep(self.forward_backward, self.wrapped) if self.speed.cuda_graph else None
        self.epoch = self.iteration = 0
        self.best: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.last_losses: dict[str, float] = {}

        path = ckpt.resume_path(resume, self.work_dir)
        state = ckpt.load_state(path) if path is not None else None
        self.seed = self._choose_seed(seed, state)
        self.epochs = EpochIterator(self.loader, self.seed, self.rank)
        if state is None:
            ckpt.seed_everything(self.seed + self.rank, deterministic)
        else:
            self._restore(state, path)
        self.logger = RunLogger(self.work_dir, enabled=self.is_main, start_epoch=self.epoch,
                                start_iteration=self.iteration)
        if self.is_main and (unfinished := ckpt.clear_unfinished(self.work_dir)):
            self.logger.info(f"removed {len(unfinished)} unfinished checkpoint file(s) of a run killed while saving")
        for note in filter(None, (lr_note, plan)):
            self.logger.info(note)
        self.logger.info(batchnorm_mode(sync_bn, self.device)[1])
        self.logger.info(self.speed.describe(self.compiled_regions))
        if path is not None:
            kept = f"; seed {seed} not used: the run keeps its own" if seed is not None and seed != self.seed else ""
            self.logger.info(f"resumed from {path} at epoch {self.epoch}, iteration {self.iteration} "
                             f"(seed {self.seed}{kept})")
            if self.is_main and (carried := ckpt.carry_best(path, state, self.work_dir)):
                self.logger.info(f"{carried}: the resumed run's best (epoch {self.best['epoch']})")
            if self.epoch >= self.max_epochs:  # fit trains nothing: say so, and how to go on
                self.logger.info(f"{path} finished all {self.max_epochs} epochs: nothing left to train (a larger "
                                 f"train.max_epochs trains on)")
        elif resume:
            self.logger.info(f"nothing to resume in {self.work_dir}: starting from epoch 0")

    # -- setup ---------------------------------------------------------------------------------
    def _choose_seed(self, seed: int | None, state: Mapping[str, Any] | None) -> int:
        if state is not None and state.get("seed") is not None:
            return int(state["seed"])  # the data order of a resumed run must not change
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        return int(broadcast_object(seed))

    def _restore(self, state: Mapping[str, Any], path: Path) -> None:
        load_state(self.model, state["state_dict"], path)  # a model that does not fit: one line naming the keys
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            ckpt.keep_optimizer_kind(self.optimizer, self.speed.fused_optimizer)
            self.scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: does not fit this model / optimizer: {e}") from None
        self.epoch, self.iteration = int(state["epoch"]), int(state["iteration"])
        self.best = dict(state.get("best") or {})
        self.metrics = dict(state.get("metrics") or {})
        self.last_losses = dict(state.get("losses") or {})
        rng = state.get("rng") or []
        if len(rng) == self.world_size:
            ckpt.set_rng_state(rng[self.rank])
        else:  # another number of processes: the run continues, not bit-for-bit
            warnings.warn(f"{path}: saved by {len(rng)} process(es), resumed by {self.world_size}: "
                          "random streams are reseeded", stacklevel=3)
            ckpt.seed_everything(self.seed + self.rank + self.epoch)

    # -- loop ----------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train up to ``max_epochs`` (from the resumed epoch); returns the final metrics; stops the workers."""
        try:
            for epoch in range(self.epoch, self.max_epochs):
                if self.epoch_hook is not None:
                    self.epoch_hook(epoch, self)
                losses, stats = self.train_epoch(epoch)
                self.epoch = epoch + 1
                self._end_epoch(losses, stats, self._evaluate_after(losses, stats))
        finally:
            self.epochs.close()
        self.logger.finish({"epoch": self.epoch, "iteration": self.iteration, "metrics": self.metrics,
                            "best": self.best, "train": self.last_losses, "seed": self.seed})
        return dict(self.metrics)

    def train_epoch(self, epoch: int) -> tuple[dict[str, float], dict[str, float]]:
        """One epoch's training: its mean losses and its stats (lr, images_per_s, time, cpu_time,
        skipped, data_wait); :meth:`fit` adds evaluation, logs and checkpoints."""
        self.wrapped.train()
        lr = self.lr  # the lr of the epoch's last step (mmengine's and the official logs' current lr)
        skipped_before = num_skipped(self.loader)
        sums: dict[str, torch.Tensor] = {}
        window: dict[str, torch.Tensor] = {}
        steps = window_steps = images = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        waited = 0.0  # seconds the loop waited for the loader (the data-wait share of the epoch)
        planned = min(len(self.loader), (self.max_iters or math.inf) - self.iteration)
        with progress_bar(planned, f"epoch {epoch + 1}/{self.max_epochs}",
                      disable=not (self.progress and self.is_main)) as bar:
            batches = self.epochs(epoch)  # its data fixed by (seed, epoch, rank); workers may be running already
            while True:
                asked = time.perf_counter()
                batch = next(batches, _END)
                waited += time.perf_counter() - asked
                if batch is _END:
                    break
                if batch is None:  # every sample of the batch was skipped (unreadable images)
                    bar.update(1)
                    continue
                images += batch_size_of(batch)
                lr = self.lr  # the rate this step trains at
                out = self.step(to_device(batch, self.device, self.speed.channels_last))
                for key, value in out.items():
                    value = torch.as_tensor(value, device=self.device).detach().float()
                    sums[key] = sums.get(key, 0.0) + value
                    window[key] = window.get(key, 0.0) + value
                steps += 1
                window_steps += 1
                bar.update(1)
                if window_steps == self.log_interval or steps == planned:
                    speed = images * self.world_size / (time.perf_counter() - start)
                    self._log_window(bar, {k: v / window_steps for k, v in window.items()}, speed)
                    window, window_steps = {}, 0
                if self.iteration == self.max_iters:  # the run's last iteration, within its last epoch
                    break
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        keys = list(sums)  # train_step's order, the same on every rank
        mean = all_reduce(torch.stack([sums[k] for k in keys]) / max(steps, 1)) if keys else []
        counts = [float(images), float(num_skipped(self.loader) - skipped_before)]
        totals = all_reduce(torch.tensor(counts, device=self.device), op="sum")
        if totals[0] == 0:
            raise DataError(f"epoch {epoch + 1}: no training sample could be read ({int(totals[1])} skipped); "
                            "check the dataset paths")
        losses = {k: float(v) for k, v in zip(keys, mean)}
        self.last_losses = losses
        return losses, {"lr": lr, "images_per_s": float(totals[0]) / elapsed, "time": elapsed,
                        "cpu_time": cpu, "skipped": int(totals[1]), "data_wait": waited / max(elapsed, 1e-9)}

    def _log_window(self, bar: Any, means: Mapping[str, torch.Tensor], speed: float) -> None:
        """Progress bar and TensorBoard every ``log_interval`` iterations (the only host syncs)."""
        values = check_finite({k: float(v) for k, v in means.items()}, self.epoch, self.iteration,
                              self.work_dir / ckpt.LATEST)
        bar.set_postfix(loss=f"{values['loss']:.4g}", img_s=f"{speed:.1f}")
        self.logger.scalars(self.iteration, {**values, "lr": self.lr})

    def step(self, batch: Any) -> Mapping[str, torch.Tensor]:
        """One training step: forward, loss and backward (replayed from the CUDA graph when one is
        captured for this batch's shapes, else eagerly), then the optimizer and the schedule."""
        out = self.graphed(batch) if self.graphed is not None else None
        if out is None:
            self.optimizer.zero_grad(set_to_none=True)
            out = self.forward_backward(batch)
        self.optimizer_step()
        return out

    # step = forward + backward (captured together in a CUDA graph when one is on) + optimizer_step;
    # public for hrseg bench-train, which times them apart
    def forward(self, batch: Any) -> Mapping[str, torch.Tensor]:
        # autocast's weight cache cannot live across CUDA graph replays
        with torch.autocast(self.device.type, dtype=self.speed.amp_dtype, enabled=self.amp,
                            cache_enabled=self.graphed is None):
            out = self.train_step(self.wrapped, batch)
        if not isinstance(out, Mapping) or "loss" not in out:
            raise TypeError("train_step must return a dict with a 'loss' tensor, got "
                            f"{type(out).__name__}{sorted(out) if isinstance(out, Mapping) else ''}")
        return out

    def backward(self, out: Mapping[str, torch.Tensor]) -> None:
        self.scaler.scale(out["loss"]).backward()

    def forward_backward(self, batch: Any) -> Mapping[str, torch.Tensor]:
        out = self.forward(batch)
        self.backward(out)
        return out

    def optimizer_step(self) -> None:
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), float(self.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with warnings.catch_warnings():
            # GradScaler skips the optimizer step after an overflow, and the scheduler says so.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.scheduler.step()
        self.iteration += 1

    def _evaluate_after(self, losses: dict[str, float], stats: dict[str, float]) -> dict[str, float]:
        """:meth:`_evaluate_if_due`; when the evaluation fails (bad val data, out of memory, Ctrl-C), the epoch's
        training is saved first (latest.pth without metrics; one process: a distributed run's ranks cannot agree)."""
        try:
            return self._evaluate_if_due()
        except BaseException:
            if self.world_size == 1:
                self._end_epoch(losses, stats, {})
                self.logger.info(f"the evaluation failed: the epoch's training is in {self.work_dir / ckpt.LATEST}")
            raise

    def _evaluate_if_due(self) -> dict[str, float]:
        """This epoch's metrics, or {} when no evaluation is due (every ``eval_interval`` epochs, and the last)."""
        if self.evaluate is None or (self.epoch % self.eval_interval and self.epoch != self.max_epochs):
            return {}
        self.model.eval()
        with torch.no_grad(), torch.compiler.set_stance("force_eager"):  # no compile for evaluation's shapes
            metrics = self.evaluate(self.model)
        self.model.train()
        self.metrics = broadcast_object({k: float(v) for k, v in (metrics or {}).items()})
        return self.metrics

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # -- end of an epoch -----------------------------------------------------------------------
    def _end_epoch(self, losses: dict[str, float], stats: dict[str, float], metrics: dict[str, float]) -> None:
        try:
            improved = ckpt.next_best(self.best, metrics, self.best_metric, self.best_mode, self.epoch)
        except ConfigError:  # a train.best_metric the evaluation lacks: the epoch's training is saved first
            self._save(None)
            raise
        self.best = improved or self.best
        best = self.best["metric"] if improved else None
        self.logger.info(epoch_line(self.epoch, self.max_epochs, losses, stats, metrics, best))
        self.logger.epoch(self.epoch, self.iteration, losses, stats, metrics)
        self._save(improved)

    def _save(self, improved: Mapping[str, Any] | None) -> None:
        rng = all_gather_object(ckpt.rng_state())  # every rank's random streams, for an exact resume
        if self.is_main:
            latest = ckpt.save_state(self.work_dir / ckpt.LATEST, self._state(rng))
            if self.save_every and self.epoch % self.save_every == 0:
                ckpt.copy_atomic(latest, self.work_dir / f"epoch_{self.epoch}.pth")
            if improved:
                ckpt.copy_atomic(latest, self.work_dir / ckpt.BEST)

    def _state(self, rng: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "state_dict": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": self.epoch, "iteration": self.iteration, "rng": rng, "seed": self.seed,
            "best": self.best, "metrics": self.metrics, "losses": self.last_losses,
            "meta": ckpt.meta(self.config, self.world_size, self.model_meta),
        }
