"""Multi-process data-parallel training, as launched by ``torchrun``.

``torchrun --nproc_per_node N tools/train_pose.py CONFIG`` sets RANK / WORLD_SIZE / LOCAL_RANK;
:func:`init_distributed` reads them (a plain ``python`` run is world size 1 and needs nothing).
Every helper here also works, as a no-op, in a single process, so task code calls them freely.

The DataLoader always samples through a :class:`DistributedSampler` (one replica when not
distributed): the shuffled order of an epoch is ``randperm(n)`` seeded by ``seed + epoch`` in both
cases, so N processes with batch B see, step by step, the same samples as one process with
batch N*B, and a resumed run sees the same order as an uninterrupted one.
"""
from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from hrseg.engine.workers import EpochSyncedDataset, PaddedCollate, RunBatchSampler

log = logging.getLogger("hrseg")


def env_world() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) when absent."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def init_distributed(backend: str | None = None) -> bool:
    """Join the process group when launched by torchrun with WORLD_SIZE > 1; idempotent.

    The backend is nccl when each process of the machine has a GPU, gloo otherwise (the CPU). On
    GPU each process uses ``cuda:LOCAL_RANK``. Returns whether the run is distributed.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    rank, world, local_rank = env_world()
    if world <= 1:
        return False
    if backend is None:
        backend = "nccl" if gpu_per_process() else "gloo"
        if torch.cuda.is_available() and backend == "gloo":
            warnings.warn(f"{os.environ.get('LOCAL_WORLD_SIZE')} processes on this machine but "
                          f"{torch.cuda.device_count()} GPU(s): NCCL needs one GPU per process, so the "
                          "processes train on the CPU (gloo)", stacklevel=2)
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, rank=rank, world_size=world)
    log.debug("joined process group: rank %d of %d (%s)", rank, world, backend)
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Only the main process (rank 0) writes checkpoints, logs and progress bars."""
    return get_rank() == 0


def gpu_per_process() -> bool:
    """Whether every process of this machine (torchrun's LOCAL_WORLD_SIZE) has a GPU of its own."""
    return torch.cuda.is_available() and torch.cuda.device_count() >= int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available (distributed: a GPU for each process), else the CPU."""
    if not is_distributed() and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if is_distributed() and gpu_per_process():
        return torch.device("cuda", env_world()[2])
    return torch.device("cpu")


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a single process.

    For evaluation: each rank predicts its shard (see :func:`shard`), gathers all predictions,
    and computes the metrics on the union.
    """
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` as rank ``src`` has it, on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce(tensor: torch.Tensor, op: str = "mean") -> torch.Tensor:
    """Sum or mean of ``tensor`` over ranks (a new tensor; the input is left alone)."""
    out = tensor.detach().clone()
    if is_distributed():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        if op == "mean":
            out /= dist.get_world_size()
    return out


def shard(items: list[Any] | range) -> list[Any] | range:
    """This rank's part of ``items`` (every world_size-th element), for distributed evaluation."""
    return items[get_rank()::get_world_size()]


def batchnorm_mode(sync_bn: bool, device: torch.device) -> tuple[bool, str]:
    """Whether to convert BatchNorm to SyncBatchNorm, and a sentence for the log.

    SyncBatchNorm (the official segmentation recipes normalise over the 12 or 16 images of a
    step, not the 3 or 4 of one GPU) is used when the recipe asks for it (``train.sync_bn``)
    and there is more than one process on CUDA; PyTorch has no CPU SyncBatchNorm.
    """
    world = get_world_size()
    if world <= 1:
        why = " (train.sync_bn: nothing to synchronise with)" if sync_bn else ""
        return False, f"BatchNorm: one process, plain BatchNorm over its own batch{why}"
    if not sync_bn:
        return False, f"BatchNorm: plain, each of the {world} processes normalises its own batch (train.sync_bn=False)"
    if device.type != "cuda":
        return False, (f"BatchNorm: plain, each of the {world} processes normalises its own batch: train.sync_bn "
                       "asks for SyncBatchNorm, which PyTorch runs on CUDA only")
    return True, f"BatchNorm: SyncBatchNorm over the batches of all {world} processes (train.sync_bn)"


def wrap_model(model: nn.Module, device: torch.device, sync_bn: bool = False,
               find_unused_parameters: bool = False) -> nn.Module:
    """Move ``model`` to ``device`` and, when distributed, wrap it in DistributedDataParallel,
    with SyncBatchNorm when :func:`batchnorm_mode` says so (CPU processes keep plain BatchNorm
    with a warning)."""
    model.to(device)
    convert, note = batchnorm_mode(sync_bn, device)
    if convert:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model).to(device)
    elif sync_bn and is_distributed():
        warnings.warn(note, stacklevel=2)
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, output_device=ids and ids[0],
                                               find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP / DataParallel wrapper."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel,
                                              nn.DataParallel)) else model


def worker_init_fn(worker_id: int) -> None:
    """Seed numpy in a DataLoader worker from the seed torch gave the worker.

    PyTorch seeds ``torch`` and ``random`` per worker (base seed from the loader's generator,
    plus the worker id) but not numpy, whose state every forked worker would otherwise share.
    """
    np.random.seed(torch.initial_seed() % 2**32)


def build_dataloader(dataset: Dataset, batch_size: int, shuffle: bool = True, num_workers: int = 0,
                     collate_fn: Callable | None = None, drop_last: bool = False, seed: int = 0,
                     pin_memory: bool | None = None, **kwargs: Any) -> DataLoader:
    """A DataLoader whose order is fixed by ``(seed, epoch)``; ``batch_size`` is per process.

    The Trainer calls ``set_epoch`` on its sampler (and on the dataset when it has one) and
    reseeds its generator (worker seeds) every epoch; ``prefetch_factor`` and persistent workers
    are the Trainer's (:func:`with_loader_options`, :mod:`hrseg.engine.speed`).
    When launched by torchrun this joins the
    process group (:func:`init_distributed`) so that the sampler shards the data.
    """
    init_distributed()
    sampler = DistributedSampler(dataset, num_replicas=get_world_size(), rank=get_rank(),
                                 shuffle=shuffle, seed=seed, drop_last=drop_last)
    generator = torch.Generator()
    generator.manual_seed(seed)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=collate_fn, drop_last=drop_last, pin_memory=pin_memory,
                      worker_init_fn=worker_init_fn, generator=generator, **kwargs)


def with_loader_options(loader: DataLoader, prefetch_factor: int | None = None,
                        persistent_workers: bool = False) -> DataLoader:
    """``loader`` itself, or the same loader (dataset, sampler, collate, seeds) with workers that
    prepare ``prefetch_factor`` batches ahead each and, with ``persistent_workers``, live for the
    whole run and run on into the next epoch's batches (:mod:`hrseg.engine.workers`: read it by
    epochs with :class:`~hrseg.engine.workers.EpochIterator`; needs the loader's generator, as
    :func:`build_dataloader` sets it; :func:`hrseg.engine.speed.resolve_speed` decides). The data it
    yields do not change."""
    persistent = bool(persistent_workers) and loader.num_workers > 0
    if persistent and loader.generator is None:
        raise ValueError("persistent workers need the DataLoader's generator (build it with build_dataloader)")
    if loader.num_workers == 0 or (prefetch_factor in (None, loader.prefetch_factor) and not persistent):
        return loader
    dataset, collate_fn = loader.dataset, loader.collate_fn
    batches: dict[str, Any] = dict(batch_size=loader.batch_size, sampler=loader.sampler, drop_last=loader.drop_last)
    if persistent:
        dataset, collate_fn = EpochSyncedDataset(dataset, loader.worker_init_fn), PaddedCollate(collate_fn)
        batches = dict(batch_sampler=RunBatchSampler(loader.sampler, loader.batch_size, loader.drop_last,
                                                     loader.num_workers))
    return DataLoader(dataset, **batches, num_workers=loader.num_workers, collate_fn=collate_fn,
                      pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn,
                      generator=loader.generator, prefetch_factor=prefetch_factor or loader.prefetch_factor,
                      timeout=loader.timeout, multiprocessing_context=loader.multiprocessing_context,
                      persistent_workers=persistent)


def cleanup() -> None:
    """Leave the process group (end of a torchrun run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
