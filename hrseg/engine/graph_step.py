"""Forward, loss and backward of a static-shape training step captured in one CUDA graph.

A training step of HRNet launches thousands of small kernels; from Python that launching, not the
GPU's arithmetic, bounds the step. A CUDA graph records them once and replays them with one launch.
What is captured is ``run(batch)``: the task's ``train_step`` under autocast (BatchNorm and the
loss inside) and the backward pass of its (scaled) loss. The optimizer, gradient clipping, the
GradScaler's bookkeeping and the schedule run after the replay, eagerly: with a fused optimizer
they are a handful of multi-tensor kernels, the learning rate stays a Python float the schedule
sets, and float16's GradScaler hands its inf flag to the fused kernel on the device (no host sync).

The capture follows PyTorch's recipe: a few warm-up runs on a side stream (cuDNN autotuning, lazy
initialisations), then one capture with the gradients set to None, so that the replays write the
gradients into the same (static) tensors. The warm-up runs would move BatchNorm's running
statistics and the CUDA random stream: both are saved before and put back after, so capturing
does not change the training. A batch whose tensors differ in shape, dtype or layout from the
captured one runs eagerly (the caller's fallback); ``train_step`` must read only the batch's
tensors (other values are frozen at capture) and must not synchronise with the host.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import torch
from torch import nn

from hrseg.engine.batches import signature, tensors_of

log = logging.getLogger("hrseg")

WARMUP_RUNS = 3


class GraphedStep:
    """``step(batch)`` replays the captured ``run`` on ``batch`` and returns its outputs (static
    tensors, overwritten by the next replay), or None when this batch must run eagerly."""

    def __init__(self, run: Callable[[Any], Mapping[str, torch.Tensor]], model: nn.Module,
                 warmup_runs: int = WARMUP_RUNS):
        self.run, self.model, self.warmup_runs = run, model, warmup_runs
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple | None = None
        self.static_batch: Any = None
        self.static_out: Mapping[str, torch.Tensor] | None = None
        self.static_grads: list[torch.Tensor | None] = []
        self.disabled: str | None = None  # why the graph is not used (any more)
        self.eager_batches = 0

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def __call__(self, batch: Any) -> Mapping[str, torch.Tensor] | None:
        if self.disabled is not None:
            return None
        key = signature(batch)
        if self.graph is None:
            try:
                self._capture(batch, key)
            except (RuntimeError, TypeError) as e:  # a sync, a CPU tensor or an unsupported op in the step
                self.disabled = f"capture failed ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
                log.warning(f"cuda_graph off: {self.disabled}; the step runs eagerly")
                return None
        elif key != self.key:
            self.eager_batches += 1
            if self.eager_batches == 1:
                log.info("cuda_graph: a batch of other shapes than the captured one runs eagerly "
                         "(counted in eager_batches)")
            return None
        for static, new in zip(tensors_of(self.static_batch), tensors_of(batch)):
            static.copy_(new, non_blocking=True)
        for p, g in zip(self.params, self.static_grads):
            p.grad = g  # an eager step in between may have replaced them
        self.graph.replay()
        return self.static_out

    def _capture(self, batch: Any, key: tuple) -> None:
        params = self.params
        buffers = [b.detach().clone() for b in self.model.buffers()]
        rng = torch.cuda.get_rng_state()
        self.static_batch = _clone(batch)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(side):
                for _ in range(self.warmup_runs):
                    for p in params:
                        p.grad = None
                    self.run(self.static_batch)
        finally:  # the warm-up must leave no trace in the training, also when it failed (the eager fallback)
            torch.cuda.current_stream().wait_stream(side)
            with torch.no_grad():
                for saved, b in zip(buffers, self.model.buffers()):
                    b.copy_(saved)
            torch.cuda.set_rng_state(rng)
            for p in params:
                p.grad = None
        graph = torch.cuda.CUDAGraph()
        # thread_local: the DataLoader's pin-memory thread keeps allocating pinned host memory
        # while this thread captures; only this thread's calls must be capture-safe
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.static_out = self.run(self.static_batch)
        self.graph, self.key = graph, key
        self.static_grads = [p.grad for p in params]
        log.info("cuda_graph: forward, loss and backward captured in one CUDA graph")


def _clone(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.clone(memory_format=torch.preserve_format)
    if isinstance(batch, Mapping):
        return {k: _clone(v) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_clone(v) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(_clone(v) for v in batch)
    return batch
