"""Error types raised for bad user input.

Every error a user can trigger with a file, a config or a checkpoint is one of these, with a
message that names the file and what is wrong, so tools can print it without a traceback.
"""
from __future__ import annotations

from pathlib import Path


class HrsegError(Exception):
    """Base class: a problem with the user's input, reported in one clear message."""


class DataError(HrsegError):
    """A missing, corrupt or malformed image or annotation file."""


class CheckpointError(HrsegError):
    """A checkpoint file that cannot be read or does not fit the model."""


class ConfigError(HrsegError):
    """An unknown config key or an invalid config value."""


def missing_file(path: Path, what: str) -> str:
    """Why ``path``, which is not a file, cannot be read as a ``what`` (a checkpoint file, an
    exported model file): a folder in its place, or nothing there."""
    return f"{path}: a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}" if path.is_dir() else \
        f"{path}: {what} not found"


def install_hint(extra: str) -> str:
    """How to install hrseg's optional ``extra`` (pyproject.toml's optional-dependencies)."""
    return f"pip install 'hrseg[{extra}]' (in a clone: pip install -e '.[{extra}]')"


class MissingExtraError(HrsegError, ImportError):
    """A feature's optional extra is not installed; an ImportError too, so code that falls back
    on a missing library still catches it."""

    def __init__(self, feature: str, extra: str, docs: str, then: str = "") -> None:
        super().__init__(f"{feature} needs the [{extra}] extra: pip install 'hrseg[{extra}]'{then} ({docs})")


# trackers and supervision pin opencv-python, beside hrseg's opencv-python-headless: their
# dependencies come with the extra, they themselves without theirs (docs/video.md)
TRACKERS_NO_DEPS = 'pip install --no-deps "trackers>=2.6.1,<2.7" "supervision>=0.26.1,<0.32"'


def missing_tracking() -> MissingExtraError:
    """The error for tracking and its metrics without the ``trackers`` library (the [track] extra
    and the two libraries installed without their dependencies)."""
    return MissingExtraError("tracking", "track", "docs/video.md", f" && {TRACKERS_NO_DEPS}")
