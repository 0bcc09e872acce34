"""DataLoader workers that live for the whole run and yield what fresh workers would, bit for bit.

PyTorch's default forks the workers anew every epoch. Each fresh worker copies the main process's
dataset, so it sees the epoch :func:`hrseg.engine.batches.set_loader_epoch` gave it, and seeds
``torch``, ``random`` and (through the loader's ``worker_init_fn``) numpy from a base seed drawn from
the loader's generator, which that function reseeds from ``(seed, epoch, rank)``. Starting the
workers and waiting for their first batches is paid every epoch: on an H100 with 2-second epochs
of the synthetic pose split it was most of the loop's 20% data wait.

A persistent worker keeps its dataset copy and its random streams, so the two things a fresh worker
gets at its start reach it another way: every index the sampler yields carries the epoch and the
base seed (``(epoch, base_seed, index)``), and on the first index of a new epoch the worker sets
its dataset copy's epoch and reseeds as a fresh worker of that epoch would (``base_seed +
worker_id``, then the loader's ``worker_init_fn``). The base seed is the first draw from the
loader's generator after its reseeding, which is what a fresh iterator draws. Progressive stages,
which change the dataset between epochs in the main process, do not reach a persistent worker: the
Trainer does not use these with an epoch hook.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import Dataset, Sampler, get_worker_info


def first_draw(generator: torch.Generator) -> int:
    """The base seed a fresh DataLoader iterator would draw from ``generator`` now (not consumed)."""
    copy = torch.Generator()
    copy.set_state(generator.get_state())
    return int(torch.empty((), dtype=torch.int64).random_(generator=copy).item())


class EpochKeyedSampler(Sampler):
    """``sampler``'s indices as ``(epoch, base_seed, index)``; ``set_epoch`` also takes the base
    seed from ``generator`` (the loader's, already reseeded for the epoch)."""

    def __init__(self, sampler: Sampler, generator: torch.Generator):
        self.sampler, self.generator = sampler, generator
        self.epoch, self.base_seed = 0, first_draw(generator)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        self.epoch, self.base_seed = int(epoch), first_draw(self.generator)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return ((self.epoch, self.base_seed, int(i)) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class EpochSyncedDataset(Dataset):
    """``dataset`` read by ``(epoch, base_seed, index)``: in a worker, a new epoch first sets the
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

    def __getitem__(self, key: tuple[int, int, int]) -> Any:
        epoch, base_seed, index = key
        worker = get_worker_info()
        if worker is not None and (epoch, base_seed) != self._current:
            seed = base_seed + worker.id  # as torch.utils.data's worker loop seeds a fresh worker
            random.seed(seed)
            torch.manual_seed(seed)
            if self.worker_init_fn is not None:
                self.worker_init_fn(worker.id)
            self.set_epoch(epoch)
            self._current = (epoch, base_seed)
        return self.dataset[index]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


__all__ = ["EpochKeyedSampler", "EpochSyncedDataset", "first_draw"]
