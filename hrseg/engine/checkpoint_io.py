"""Training checkpoints (everything needed to resume exactly) and the random number generators.

A training checkpoint is a dict of tensors and plain Python data, written atomically and read
back with ``torch.load(..., weights_only=True)``::

    state_dict   model weights (unwrapped from DDP; hrseg.load_checkpoint reads these files too)
    optimizer, scheduler, scaler   their state_dicts
    epoch, iteration               epochs and optimizer steps completed
    rng          one entry per rank: python, numpy, torch and cuda generator states
    seed, best, metrics, losses    the run's seed, best metric so far, last evaluation and losses
    meta         the run's config as a plain dict, hrseg version, world size, time
"""
from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from hrseg.checkpoint import read_checkpoint
from hrseg.errors import CheckpointError, ConfigError
from hrseg.utils.io import atomic_path, remove_stale_temporaries
from hrseg.meta.version import __version__

TRAINING_KEYS = ("state_dict", "optimizer", "scheduler", "epoch", "iteration")
LATEST = "latest.pth"
BEST = "best.pth"


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices).

    ``deterministic`` also asks for deterministic kernels (slower; cuDNN autotuning off). The
    DataLoader order and worker seeds are fixed separately, by the sampler and loader generator.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def rng_state() -> dict[str, Any]:
    """The global generators' states as tensors and lists (loadable with weights_only=True)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically: a crash mid-write leaves the previous file intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def clear_unfinished(work_dir: str | os.PathLike) -> list[Path]:
    """Remove what a run killed while saving left in ``work_dir``: the temporary files of
    latest.pth and best.pth (full-size; :func:`hrseg.utils.io.remove_stale_temporaries`). For
    a run's start, when nothing else writes there."""
    return [p for name in (LATEST, BEST) for p in remove_stale_temporaries(Path(work_dir) / name)]


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a written checkpoint (``latest.pth`` -> ``epoch_N.pth`` / ``best.pth``) atomically."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint; a corrupt, truncated or weights-only file is a CheckpointError."""
    state = read_checkpoint(path)
    missing = [k for k in TRAINING_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a training checkpoint (no {', '.join(missing)}); "
                              "it can initialise a model's weights but not resume a run")
    return state


def resume_path(resume: bool | str | os.PathLike | None, work_dir: str | os.PathLike) -> Path | None:
    """The checkpoint to resume from: ``True`` = ``work_dir/latest.pth`` when it exists (else
    None: a fresh start), a path = that file (which must exist), None/False = none."""
    if resume is None or resume is False:
        return None
    if resume is True:
        latest = Path(work_dir) / LATEST
        return latest if latest.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint to resume from not found")
    return path


def carry_best(resumed: Path, state: Mapping[str, Any], work_dir: Path) -> Path | None:
    """A run resumed from another folder into ``work_dir`` takes that folder's ``best.pth`` along
    when it is the best the resumed state records (its epoch), so ``best.pth`` and ``metrics.json``
    agree; returns the copy (None: nothing carried)."""
    source, target, epoch = Path(resumed).parent / BEST, Path(work_dir) / BEST, (state.get("best") or {}).get("epoch")
    if epoch is None or target.exists() or not source.is_file() or source.resolve() == target.resolve():
        return None
    if int(read_checkpoint(source).get("epoch", -1)) != int(epoch):
        return None
    return copy_atomic(source, target)


def next_best(best: Mapping[str, Any], metrics: Mapping[str, float], metric: str | None, mode: str,
              epoch: int) -> dict[str, Any] | None:
    """The new ``best`` (``{"metric", "value", "epoch"}``, what selects best.pth) when ``metrics``
    beat ``best`` on ``metric`` (default: the one ``best`` tracks, else the first), else None."""
    if not metrics:
        return None
    name = metric or best.get("metric") or next(iter(metrics))
    if name not in metrics:
        raise ConfigError(f"train.best_metric: {name!r} is not among the evaluation metrics ({', '.join(metrics)})")
    value, old = metrics[name], best.get("value")
    if old is None or (value > old if mode == "max" else value < old):
        return {"metric": name, "value": value, "epoch": epoch}
    return None


def plain(obj: Any) -> Any:
    """``obj`` with tuples as lists and anything not plain data as its repr (for weights_only)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


def meta(config: dict[str, Any] | None, world_size: int,
         model_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``meta`` entry: plain data describing the run and what its model expects."""
    return {"config": plain(config or {}), "model": plain(model_meta or {}), "hrseg_version": __version__,
            "world_size": world_size, "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def keep_optimizer_kind(optimizer: torch.optim.Optimizer, fused: bool) -> None:
    """After ``load_state_dict``: the run's fused (or not) optimizer, whatever the checkpoint's was
    (a checkpoint written on the CPU resumed on CUDA), its step counters where the kernel wants them."""
    if not fused:
        return
    for group in optimizer.param_groups:
        if "fused" in group:
            group["fused"] = True
        for p in group["params"]:
            step = optimizer.state.get(p, {}).get("step")
            if isinstance(step, torch.Tensor) and step.device != p.device:
                optimizer.state[p]["step"] = step.to(device=p.device, dtype=torch.float32)
