"""Reading published files without unpickling anything a user downloaded.

OpenMMLab checkpoints keep a ``meta`` entry beside ``state_dict`` (numpy scalars and arrays,
sometimes mmengine objects) that ``torch.load(weights_only=True)`` refuses
(open-mmlab/mmengine#1655). Two steps, never full unpickling:

1. ``weights_only=True`` with numpy's plain data types allowed (scalars, arrays, dtypes);
2. if the file still names another class, ``weights_only=True`` again with each class torch
   names in its refusal mapped to an inert placeholder (torch's ``safe_globals`` with a
   ``(class, name)`` pair): nothing of the file is imported or called, the ``meta`` it belonged
   to is dropped and the tensors kept.

``.safetensors`` files (timm on the Hugging Face hub) are read with safetensors, which holds no code.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from hrseg.errors import CheckpointError, missing_file

log = logging.getLogger("hrseg")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # torch's refusal text sets words in bold for a terminal


def _numpy_globals() -> list[Any]:
    import numpy as np

    names = [np.dtype, np.ndarray]
    core = np._core if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else np.core  # numpy 1.26 has a bare _core
    names += [core.multiarray.scalar, core.multiarray._reconstruct]
    names += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool", "uint8", "float16")]
    return names


def read_weights(path: str | os.PathLike) -> dict[str, Any]:
    """The file's top-level dict (tensors, plain data; foreign objects dropped). Errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(missing_file(p, "checkpoint file"))
    if p.suffix == ".safetensors":
        return _read_safetensors(p)
    with open(p, "rb") as f:
        magic = f.read(4)
    # torch.save writes a zip archive (PK..); the legacy format starts with a pickle opcode (0x80).
    if not (magic.startswith(b"PK") or magic[:1] == b"\x80"):
        exported = (" but an exported model: hrseg infer, test and serve take it as --weights; training and "
                    "export need the checkpoint it was exported from"
                    if p.suffix.lower() in (".onnx", ".xml") else "")
        raise CheckpointError(f"{p}: not a checkpoint file (neither a PyTorch zip archive nor a legacy torch file)"
                              f"{exported}")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # noted once its tensors are read: a refused file is the one error line
        obj = _read_tensors_only(p)
        log.info(f"{p}: holds objects weights_only refuses ({_first_line(e)}); read its tensors only")
    except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged file
        raise CheckpointError(f"{p}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    return _checked_dict(p, obj)


def _checked_dict(p: Path, obj: Any) -> dict[str, Any]:
    """``obj``, the file's top level, when it is a dict; else one error naming what it is: a
    pickled object (``torch.save(model, f)``: its class, which stood in as a :class:`Dropped`) or
    another value (a bare tensor)."""
    if isinstance(obj, Dropped):
        raise CheckpointError(f"{p}: the file holds a pickled {type(obj).__name__} object (torch.save(model)), not a "
                              "state dict; save model.state_dict() instead")
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def _first_line(e: Exception) -> str:
    """The first line of ``e``'s text, without the terminal escapes torch sets words in bold with."""
    text = _ANSI.sub("", str(e)).strip()
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


# torch's message for a class its safe loader will not rebuild: "Unsupported global: GLOBAL a.b.C"
_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
# ... and for a class of a module it blocks outright (os, posix, subprocess, builtins' eval ...):
# "Trying to load unsupported GLOBAL posix.system whose module posix is blocked"
_BLOCKED = re.compile(r"unsupported GLOBAL ([\w.]+) whose module [\w.]+ is blocked")


class Dropped:
    """Stands in for any class a checkpoint names that is not a tensor or plain data (a subclass
    per class, named as it: :func:`_placeholder`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Dropped:
        return type(self)()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


def _placeholder(name: str) -> type[Dropped]:
    """A :class:`Dropped` named as the class ``name`` (``a.b.HRNet`` -> ``HRNet``), so that what the
    file held can be named in an error."""
    return type(name.rsplit(".", 1)[-1], (Dropped,), {"__module__": name.rpartition(".")[0] or "builtins"})


def _read_tensors_only(p: Path, max_names: int = 64) -> dict[str, Any]:
    """The file read with ``weights_only=True`` all the same, every class it names that torch's
    safe loader refuses (mmengine's config and log objects, say) replaced by :class:`Dropped`:
    nothing of the file is ever imported or called, and the entries holding them are left out."""
    names: list[str] = []
    while True:
        try:
            with torch.serialization.safe_globals(_numpy_globals() + [(_placeholder(n), n) for n in names]):
                obj = torch.load(p, map_location="cpu", weights_only=True)
            break
        except pickle.UnpicklingError as e:
            blocked = _BLOCKED.search(str(e))
            if blocked:  # a call that runs code when unpickled: refused, and nothing of it ran
                raise CheckpointError(
                    f"{p}: refused: the file holds {blocked.group(1)!r}, a function that would run code when "
                    "unpickled; hrseg reads checkpoints with weights_only=True and never unpickles code, so "
                    "nothing of it ran. Save the weights as a plain state_dict (tensors only)") from None
            found = _UNSUPPORTED.search(str(e))
            name = found.group(1) if found else ""
            if name and "." not in name:  # torch names builtins bare ("print"), looks up "builtins.print"
                name = f"builtins.{name}"
            if not name or name in names or len(names) >= max_names:
                raise CheckpointError(f"{p}: holds objects that are not tensors or plain data ({name or 'unnamed'}); "
                                      "hrseg never unpickles code, so it cannot read them") from None
            names.append(name)
        except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged file
            raise CheckpointError(f"{p}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    return {k: v for k, v in _checked_dict(p, obj).items() if not isinstance(v, Dropped)}
