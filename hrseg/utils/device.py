"""The device a command was asked to run on, refused in one line when torch cannot use it here
(torch's own error came as a traceback from the first tensor put there)."""
from __future__ import annotations

import torch

from hrseg.errors import ConfigError


def available_device(name: str | torch.device, what: str) -> torch.device:
    """``name`` as a device torch can use now; else a :class:`ConfigError` naming ``what`` (the
    command) and the device."""
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{what} --device {name}: torch sees no CUDA device here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"{what} --device {name}: there are {torch.cuda.device_count()} CUDA device(s), 0 .. "
                          f"{torch.cuda.device_count() - 1}")
    return dev
