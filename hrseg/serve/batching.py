"""Micro-batching: the forward passes of concurrent requests run as one.

Each request runs the task's own prediction function in its own thread, with the model replaced
by a :class:`BatchedModel`. Its forward calls do not run the network: they queue their input
and wait. One worker thread takes what is queued (up to ``max_batch`` rows, waiting at most
``max_wait_ms`` for more), concatenates inputs of the same model and shape, runs one forward and
hands each caller its own slice of the output. The prediction code before and after the forward
(crops, flip test, decoding, NMS) is the task's, unchanged, so a request gets what the tools
compute; only the batch the network sees is larger.

Inputs are tensors ``(N, ...)`` (pose crops, segmentation images or windows) or lists of image
tensors (torchvision detectors); only inputs of the same shape are batched together, so that no
padding changes a result.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

from hrseg.inference.predictor import RunnerStandIn

log = logging.getLogger("hrseg")


@dataclass
class _Job:
    model: nn.Module
    inputs: Any  # a tensor (N, ...) or a list of N image tensors
    future: Future = field(default_factory=Future)

    @property
    def rows(self) -> int:
        return len(self.inputs)

    @property
    def key(self) -> tuple:
        """Jobs with equal keys can share one forward."""
        if isinstance(self.inputs, torch.Tensor):
            return id(self.model), "tensor", tuple(self.inputs.shape[1:]), self.inputs.dtype
        return id(self.model), "list", tuple(tuple(t.shape) for t in self.inputs)


def _split(output: Any, sizes: list[int], list_input: bool) -> list[Any]:
    """One forward's output cut back into the callers' parts (along the batch dimension)."""
    if list_input:  # torchvision detectors: one dict per image
        bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        return [output[a:b] for a, b in zip(bounds, bounds[1:])]
    if isinstance(output, torch.Tensor):
        return list(output.split(sizes))
    if isinstance(output, (list, tuple)):  # several heads (deep supervision, OCR): split each
        parts = [_split(o, sizes, False) for o in output]
        return [type(output)(p[i] for p in parts) for i in range(len(sizes))]
    raise TypeError(f"cannot split a model output of type {type(output).__name__} into a batch")


class MicroBatcher:
    """One worker thread running the queued forward calls of all served models, batched.

    ``max_batch`` 1 turns batching off (each call alone, still one at a time), which is the
    comparison the load test makes. Statistics (forwards, rows) are kept for ``/healthz``.
    """

    def __init__(self, max_batch: int = 8, max_wait_ms: float = 2.0) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        self.max_batch, self.max_wait = int(max_batch), float(max_wait_ms) / 1000.0
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._carry: list[_Job] = []
        self.forwards = self.rows = 0
        self._thread = threading.Thread(target=self._run, name="hrseg-batcher", daemon=True)
        self._thread.start()

    def submit(self, model: nn.Module, inputs: Any) -> Any:
        """Queue ``model(inputs)``, wait and return this caller's output (exceptions re-raised)."""
        if not self._thread.is_alive():
            raise RuntimeError("the batching worker has stopped")
        job = _Job(model, inputs)
        self._queue.put(job)
        return job.future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    # -- the worker --------------------------------------------------------------------------------
    def _collect(self) -> list[_Job] | None:
        jobs, rows = [], 0
        if self._carry:
            jobs, self._carry = self._carry, []
            rows = sum(j.rows for j in jobs)
        else:
            first = self._queue.get()
            if first is None:
                return None
            jobs, rows = [first], first.rows
        deadline = time.monotonic() + self.max_wait
        while rows < self.max_batch:
            try:
                timeout = deadline - time.monotonic()
                job = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # stop after this round
                break
            if rows + job.rows > self.max_batch:
                self._carry.append(job)  # the next round starts with it
                break
            jobs.append(job)
            rows += job.rows
        return jobs

    def _run(self) -> None:
        while True:
            jobs = self._collect()
            if jobs is None:
                return
            for group in _groups(jobs):
                self._forward(group)

    def _forward(self, group: list[_Job]) -> None:
        try:
            list_input = not isinstance(group[0].inputs, torch.Tensor)
            sizes = [j.rows for j in group]
            if list_input:
                batch = [t for j in group for t in j.inputs]
            else:
                batch = group[0].inputs if len(group) == 1 else torch.cat([j.inputs for j in group])
            with torch.inference_mode():  # grad mode is per thread: the callers' no_grad is not ours
                output = group[0].model(batch)
            parts = [output] if len(group) == 1 else _split(output, sizes, list_input)
            self.forwards += 1
            self.rows += sum(sizes)
        except Exception as e:  # noqa: BLE001 - the callers get the error; the worker lives on
            for job in group:
                job.future.set_exception(e)
            return
        for job, part in zip(group, parts):
            job.future.set_result(part)


def _groups(jobs: list[_Job]) -> Iterator[list[_Job]]:
    """The jobs that can share a forward (same model, same input shape), in arrival order."""
    by_key: dict[tuple, list[_Job]] = {}
    for job in jobs:
        by_key.setdefault(job.key, []).append(job)
    yield from by_key.values()


class BatchedModel(RunnerStandIn):
    """Stands in for ``model`` in the task's predictor: calls go through ``batcher``."""

    def __init__(self, model: nn.Module, batcher: MicroBatcher) -> None:
        super().__init__(model)
        self.batcher = batcher

    def __call__(self, inputs: Any) -> Any:
        return self.batcher.submit(self.runner, inputs)
