"""Reading published files without unpickling anything a user downloaded.

OpenMMLab checkpoints keep a ``meta`` entry beside ``state_dict`` (numpy scalars and arrays,
sometimes mmengine objects) that ``torch.load(weights_only=True)`` refuses
(open-mmlab/mmengine#1655). Two steps, never full unpickling:

1. ``weights_only=True`` with numpy's plain data types allowed (scalars, arrays, dtypes);
2. if the file still names another class, a restricted unpickler that rebuilds tensors and
   plain containers only: every other global becomes an inert placeholder whose construction
   does nothing (no import, no call), so the ``meta`` it belonged to is dropped and the tensors kept.

``.safetensors`` files (timm on the Hugging Face hub) are read with safetensors, which holds no code.
"""
from __future__ import annotations

import collections
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from hrseg.errors import CheckpointError

log = logging.getLogger("hrseg")


def _numpy_globals() -> list[Any]:
    import numpy as np

    names = [np.dtype, np.ndarray]
    core = getattr(np, "_core", None) or np.core
    names += [core.multiarray.scalar, core.multiarray._reconstruct]
    names += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool", "uint8", "float16")]
    return names


def read_weights(path: str | os.PathLike) -> dict[str, Any]:
    """The file's top-level dict (tensors, plain data; foreign objects dropped). Errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    if p.suffix == ".safetensors":
        return _read_safetensors(p)
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        log.info(f"{p}: holds objects weights_only refuses ({_first_line(e)}); reading its tensors only")
        obj = _read_tensors_only(p)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged file
        raise CheckpointError(f"{p}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "unsupported content"


def _read_safetensors(p: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f"{p}: reading .safetensors needs the safetensors package (pip install safetensors)"
                              ) from None
    try:
        return dict(load_file(str(p)))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{p}: corrupt or truncated safetensors file ({e})") from None


class Dropped:
    """Stands in for any class a checkpoint names that is not a tensor or plain data."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Dropped:
        return Dropped()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


# What a tensor's reconstruction needs (torch's own rebuild functions and storage types); plain
# containers. Nothing else is ever looked up.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    **{("torch", n): getattr(torch, n) for n in dir(torch) if n.endswith("Storage") and n[0].isupper()},
    **{("torch", str(t).split(".")[1]): t for t in (torch.float32, torch.float16, torch.float64, torch.bfloat16,
                                                     torch.int64, torch.int32, torch.uint8, torch.bool)},
}


class _TensorsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        return found if found is not None else Dropped


class _RestrictedPickle:
    """A ``pickle_module`` for ``torch.load`` whose unpickler only rebuilds tensors."""

    Unpickler = _TensorsOnly
    UnpicklingError = pickle.UnpicklingError
    __name__ = "hrseg_tensors_only"

    @staticmethod
    def load(f: Any, **kwargs: Any) -> Any:
        return _TensorsOnly(f, **kwargs).load()


def _read_tensors_only(p: Path) -> dict[str, Any]:
    try:
        # weights_only=False only so that torch uses the restricted unpickler above, whose
        # find_class never returns anything but tensor rebuilders, containers and Dropped.
        obj = torch.load(p, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickle)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{p}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a dict of tensors, found {type(obj).__name__}")
    return {k: v for k, v in obj.items() if not isinstance(v, Dropped)}
