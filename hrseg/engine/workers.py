"""DataLoader workers that live for the whole run, prepare the next epoch's batches while this one
ends, and yield what fresh workers would, bit for bit.

PyTorch's default forks the workers anew every epoch. Each fresh worker copies the main process's
dataset, so it sees the epoch :func:`hrseg.engine.batches.set_loader_epoch` gave it, and seeds
``torch``, ``random`` and (through the loader's ``worker_init_fn``) numpy from a base seed drawn from
the loader's generator, which that function reseeds from ``(seed, epoch, rank)``. Starting the
workers and waiting for their first batches is paid every epoch: on an H100 with 2-second epochs
of the synthetic pose split it was most of the loop's 20% data wait. PyTorch's persistent workers
keep the processes, but a new epoch's iterator still starts with empty queues: every epoch begins
by waiting for one worker to make a whole batch.

Here one iterator serves the whole run (as ultralytics' ``InfiniteDataLoader``): its batch sampler,
:class:`RunBatchSampler`, yields the batches of one epoch after the other, so the workers' queues
run into the next epoch (and through the evaluation between epochs), and :class:`EpochIterator`
hands the Trainer each epoch's ``len(loader)`` batches. A long-lived worker keeps its dataset copy
and its random streams, so what a fresh worker gets at its start reaches it another way: every
index carries the epoch and the base seed (``(run, epoch, base_seed, index)``), and on the first
index of a new epoch the worker sets its dataset copy's epoch and reseeds as a fresh worker of that
epoch would (``base_seed + worker_id``, then the loader's ``worker_init_fn``). Each epoch's order is
its sampler's after ``set_epoch(epoch)``, its base seed the first draw of a generator seeded with
:func:`hrseg.engine.batches.epoch_seed`: what a fresh iterator draws; and each epoch's batch ``j``
goes to worker ``j % num_workers``, as in a fresh epoch (:class:`RunBatchSampler`'s padding). Progressive stages, which
change the dataset between epochs in the main process, do not reach these workers: the Trainer
does not use them with an epoch hook.
"""
from __future__ import annotations

import itertools
import random
from typing import Any, Callable, Iterator

import cv2
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, get_worker_info

from hrseg.engine.batches import epoch_seed, set_loader_epoch


def first_draw(generator: torch.Generator) -> int:
    """The base seed a fresh DataLoader iterator would draw from ``generator`` now (not consumed)."""
    copy = torch.Generator()
    copy.set_state(generator.get_state())
    return int(torch.empty((), dtype=torch.int64).random_(generator=copy).item())


class RunBatchSampler(Sampler):
    """The batches of ``sampler``'s epochs ``start``, ``start + 1``, ... one after the other (no end),
    each index as ``(run, epoch, base_seed, index)``; ``len`` is one epoch's batches. ``start``,
    ``seed`` and ``rank`` are set by :class:`EpochIterator` before it starts the run's iterator, and
    ``run`` counted up: batches of an epoch that a restarted iterator reads again were prefetched by
    the old one too, and the workers must reseed for them once more.

    The DataLoader hands batches to its workers in turn over the whole run, and a fresh epoch's
    batch ``j`` goes to worker ``j % num_workers``, whose random stream it draws from; so every
    epoch ends with ``padding`` empty batches (made into None by :class:`PaddedCollate`, dropped by
    :class:`EpochIterator`) that bring the turn back to worker 0."""

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool, num_workers: int):
        self.sampler = sampler
        self.batches = BatchSampler(sampler, batch_size, drop_last)  # one epoch's, as a DataLoader makes them
        self.padding = -len(self) % max(int(num_workers), 1)
        self.start, self.seed, self.rank, self.run = 0, 0, 0, 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int]]]:
        if len(self) == 0:
            return
        for epoch in itertools.count(self.start):
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(epoch)
            base_seed = first_draw(torch.Generator().manual_seed(epoch_seed(self.seed, epoch, self.rank)))
            for batch in self.batches:
                yield [(self.run, epoch, base_seed, int(i)) for i in batch]
            yield from ([] for _ in range(self.padding))


class PaddedCollate:
    """``collate_fn`` for :class:`RunBatchSampler`'s batches: an empty (padding) batch becomes None."""

    def __init__(self, collate_fn: Callable[[list], Any]):
        self.collate_fn = collate_fn

    def __call__(self, batch: list) -> Any:
        return self.collate_fn(batch) if batch else None


def start_workers(loader: DataLoader) -> Iterator[Any]:
    """``iter(loader)``, its workers forked while this process's OpenCV runs on one thread, so that
    they keep one (PyTorch gives each worker one torch thread; OpenCV kept a pool as large as the
    machine in every worker: 14 x 16 threads on 16 cores, docs/training.md, "OpenCV's threads in
    the workers"); this process gets its pool back at once. Set in a worker instead, the new
    count could hang it (its copy of the pool's state has no threads behind it)."""
    if loader.num_workers == 0:
        return iter(loader)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return iter(loader)  # PyTorch starts (forks) the workers here
    finally:
        cv2.setNumThreads(threads)


class EpochIterator:
    """``epochs(epoch)``: an iterator over that epoch's batches of ``loader``. A loader of
    :class:`RunBatchSampler` keeps one iterator for the run and gives ``len(loader)`` batches an
    epoch (a new one after an epoch that was not read to its end, or for another epoch than the
    next); any other loader gets :func:`set_loader_epoch` and a fresh iterator every epoch."""

    def __init__(self, loader: DataLoader, seed: int, rank: int = 0):
        self.loader, self.seed, self.rank = loader, int(seed), int(rank)
        self._run: Iterator[Any] | None = None
        self._next: tuple[int, int] | None = None  # (epoch, batches read) where the run iterator stands

    def __call__(self, epoch: int) -> Iterator[Any]:
        set_loader_epoch(self.loader, epoch, self.seed, self.rank)  # the dataset's epoch in this process
        sampler = self.loader.batch_sampler
        if not isinstance(sampler, RunBatchSampler):
            return start_workers(self.loader)
        if self._run is None or self._next != (epoch, 0):
            sampler.start, sampler.seed, sampler.rank, sampler.run = epoch, self.seed, self.rank, sampler.run + 1
            self._run = start_workers(self.loader)  # persistent workers: the same processes, reset queues
        return self._epoch(epoch, sampler.padding)

    def close(self) -> None:
        """Stop the loader's persistent workers now (a later epoch starts new ones). PyTorch keeps
        them as long as the DataLoader, and a DataLoader collected as cyclic garbage (a Trainer is
        one) stopped them only after a 5-second join timeout per worker: its queues were finalised
        first, and the workers never got the stop signal (up to 70 s for 14 workers, at whatever
        point the garbage collector ran)."""
        self._run = self._next = None
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None:
            self.loader._iterator = None
            if hasattr(iterator, "_shutdown_workers"):  # PyTorch has no public call for it
                iterator._shutdown_workers()

    def _epoch(self, epoch: int, padding: int) -> Iterator[Any]:
        for i in range(len(self.loader)):
            self._next = (epoch, i + 1)  # an epoch left unfinished makes the next call restart
            yield next(self._run)
        for _ in range(padding):
            next(self._run)
        self._next = (epoch + 1, 0)


class EpochSyncedDataset(Dataset):
    """``dataset`` read by ``(run, epoch, base_seed, index)``: in a worker, a new epoch first sets the
    copy's epoch and reseeds the worker as a fresh one. Other attributes are the dataset's."""

    def __init__(self, dataset: Any, worker_init_fn: Callable[[int], None] | None):
        self.dataset, self.worker_init_fn = dataset, worker_init_fn
        self._current: tuple[int, int] | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("dataset", "worker_init_fn", "_current"):
            raise AttributeError(name)  # unpickling asks before __dict__ is filled
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int, int]) -> Any:
        run, epoch, base_seed, index = key
        worker = get_worker_info()
        if worker is not None and (run, epoch, base_seed) != self._current:
            seed = base_seed + worker.id  # as torch.utils.data's worker loop seeds a fresh worker
            random.seed(seed)
            torch.manual_seed(seed)
            if self.worker_init_fn is not None:
                self.worker_init_fn(worker.id)
            self.set_epoch(epoch)
            self._current = (run, epoch, base_seed)
        return self.dataset[index]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


__all__ = ["EpochIterator", "EpochSyncedDataset", "PaddedCollate", "RunBatchSampler", "first_draw"]
