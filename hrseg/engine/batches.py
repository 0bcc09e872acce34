"""Helpers on a training batch and its DataLoader: moving a (nested) batch to the device,
counting its images, fixing an epoch's data, reading the skipped-image counter, and the
static-shape signature a CUDA graph is captured for."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move every tensor in a (nested) batch to ``device``; other values are kept.
    ``channels_last``: 4-d floating tensors (images, heatmaps) and uint8 images (normalised on the
    device, which keeps their memory format) also take that memory format."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and (batch.is_floating_point() or batch.dtype == torch.uint8):
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, Mapping):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device, channels_last) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, channels_last) for v in batch)
    return batch


def tensors_of(batch: Any) -> Iterator[torch.Tensor]:
    """The tensors of a (nested) batch, in a fixed order (mappings by insertion order)."""
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, Mapping):
        for value in batch.values():
            yield from tensors_of(value)
    elif isinstance(batch, (list, tuple)):
        for value in batch:
            yield from tensors_of(value)


def signature(batch: Any) -> tuple:
    """What a captured step depends on: the structure, shapes, dtypes, strides and devices of the
    batch's tensors (their values change from batch to batch; other values do not count)."""
    def walk(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return ("T", tuple(value.shape), value.dtype, value.stride(), str(value.device))
        if isinstance(value, Mapping):
            return ("M",) + tuple((k, walk(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            nested = (torch.Tensor, Mapping, list, tuple)
            return ("L", len(value)) + tuple(walk(v) for v in value if isinstance(v, nested))
        return None
    return walk(batch)


def batch_size_of(batch: Any) -> int:
    """Images in a batch: the first dimension of its first tensor, else its length."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, Mapping):
        for value in batch.values():
            if isinstance(value, (torch.Tensor, Mapping, list, tuple)):
                return batch_size_of(value)
        return 1
    if isinstance(batch, (list, tuple)) and batch:
        # (images, targets, ...) -> images; a list of per-sample records -> its length
        return batch_size_of(batch[0]) if isinstance(batch[0], torch.Tensor) else len(batch)
    return 1


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of the loader's generator in an epoch: the workers' base seed is its first draw."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0])


def set_loader_epoch(loader: DataLoader, epoch: int, seed: int, rank: int = 0) -> None:
    """Fix an epoch's data: worker seeds, sampler order (seed + epoch), dataset augmentation."""
    if loader.generator is not None:
        loader.generator.manual_seed(epoch_seed(seed, epoch, rank))
    for obj in (loader.sampler, loader.batch_sampler, loader.dataset):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)


def num_skipped(loader: DataLoader) -> int:
    """The running total of skipped images the dataset or collate function reports (else 0)."""
    for obj in (loader.dataset, loader.collate_fn):
        counter = getattr(obj, "num_skipped", None)
        if counter is not None:
            value = counter() if callable(counter) else counter
            return int(getattr(value, "value", value))
    return 0
