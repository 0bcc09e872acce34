"""Atomic file output: a reader never sees a half-written file; :func:`remove_stale_temporaries`
clears what a killed writer left behind."""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Iterator

from hrseg.errors import ConfigError


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status);
    elsewhere set and put back (os.umask has no read-only form)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp's random part: 8 characters of tempfile's alphabet (a-z, 0-9, _), the same in every CPython 3
_RANDOM_PART = "[a-z0-9_]{8}"


def _temporary_affixes(target: Path) -> tuple[str, str]:
    """The prefix and suffix of :func:`atomic_path`'s temporary files for ``target``: hidden,
    ``.<stem>.XXXXXXXX<suffix>`` (``.latest.wjipdret.pth`` for ``latest.pth``)."""
    return f".{target.stem}.", target.suffix


def make_folder(folder: str | os.PathLike) -> Path:
    """``folder``, made with its parents where missing; a file in its place, or a folder that cannot
    be made, is one :class:`ConfigError` naming it (``FileExistsError``'s "File exists" did not say which)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: the output folder is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{folder}: cannot make the output folder ({e.strerror or e})") from None
    return folder


@contextlib.contextmanager
def output_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """:func:`make_folder` for a block that writes into ``folder``: if the block fails, the folders
    it made are removed again where still empty, so a failed run leaves nothing behind."""
    folder = Path(folder)
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    make_folder(folder)
    try:
        yield folder
    except BaseException:
        for made in missing:  # deepest first
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    The temporary file keeps the target's suffix so that writers choosing a format from the
    extension (cv2.imwrite, matplotlib) still work. The file gets the mode a plain ``open``
    would give it (0666 less the umask), not ``mkstemp``'s private 0600.
    """
    target = Path(path)
    make_folder(target.parent)
    prefix, suffix = _temporary_affixes(target)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` made for ``path`` and never moved into
    place (a process killed mid-write, ``kill -9`` during ``torch.save``, leaves a full-size
    one behind); returns what it removed. Only plain files named exactly as ``atomic_path``
    names them for this final path match, nothing else in the folder. Call it when no other
    process is writing ``path`` (e.g. as a training run starts): a write in progress would lose
    its temporary file."""
    target = Path(path)
    if not target.parent.is_dir():
        return []
    prefix, suffix = _temporary_affixes(target)
    pattern = re.compile(re.escape(prefix) + _RANDOM_PART + re.escape(suffix))
    removed = []
    for candidate in sorted(target.parent.iterdir()):
        if pattern.fullmatch(candidate.name) and candidate.is_file() and not candidate.is_symlink():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON atomically and return the path: a NaN or infinite float (the
    IoU of a class absent from prediction and labels) is written as ``null``, which every JSON
    reader takes (Python's default ``NaN`` is not JSON: JavaScript's ``JSON.parse`` refuses it)."""
    try:
        text = json.dumps(obj, indent=indent, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: the rare case pays for the walk
        text = json.dumps(_finite(obj), indent=indent, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _finite(obj: Any) -> Any:
    """``obj`` with its non-finite floats as None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120, footer: str | None = None) -> Path:
    """Save a matplotlib figure as PNG atomically, then close it.

    ``footer``: where the figure came from (machine, command, date:
    :func:`~hrseg.utils.provenance.provenance_footer`), drawn in small grey type along the bottom and kept
    in the PNG's ``Description`` text, so that a figure copied out of its page still says what made it.
    A figure pyplot made is closed there; one made on its own canvas (``Figure()``) leaves pyplot unimported."""
    if footer:
        _draw_footer(fig, footer)
    else:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Description": footer} if footer else None)
    if getattr(fig.canvas, "manager", None) is not None:  # pyplot's: it holds the figure until closed
        import matplotlib.pyplot as plt  # matplotlib: a slow import, only where pyplot made the figure

        plt.close(fig)
    return Path(path)


FOOTER_POINTS = 5.5  # the footer's font size


def _draw_footer(fig: Any, footer: str) -> None:
    """``footer`` wrapped to the figure's width below the plot: the figure grows by the footer's height,
    so the axes keep the size and layout they have without it."""
    # a character of the default sans-serif is about 0.55 of the font size wide on average
    width = max(20, int(fig.get_figwidth() * 72 / (FOOTER_POINTS * 0.55)))
    lines = [w for line in footer.splitlines() for w in textwrap.wrap(line, width, break_on_hyphens=False) or [""]]
    extra = (len(lines) * FOOTER_POINTS * 1.25 + 6) / 72  # inches: the lines and a margin
    height = fig.get_figheight() + extra
    fig.set_figheight(height)
    fig.tight_layout(rect=(0, extra / height, 1, 1))
    fig.text(0.01, 3 / 72 / height, "\n".join(lines), fontsize=FOOTER_POINTS, color="0.4", ha="left", va="bottom",
             linespacing=1.25)
