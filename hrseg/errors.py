"""Error types raised for bad user input.

Every error a user can trigger with a file, a config or a checkpoint is one of these, with a
message that names the file and what is wrong, so tools can print it without a traceback.
"""
from __future__ import annotations


class HrsegError(Exception):
    """Base class: a problem with the user's input, reported in one clear message."""


class DataError(HrsegError):
    """A missing, corrupt or malformed image or annotation file."""


class CheckpointError(HrsegError):
    """A checkpoint file that cannot be read or does not fit the model."""


class ConfigError(HrsegError):
    """An unknown config key or an invalid config value."""
