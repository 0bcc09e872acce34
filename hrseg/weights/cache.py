"""The weights cache: ``$HRSEG_HOME/weights`` (default ``<torch hub dir>/hrseg/weights``).

A file is downloaded to a temporary name beside its final one, with a progress bar, checked
against the SHA-256 prefix its published name carries, and only then renamed into place, so the
cache never holds a partial or wrong file. A file already in the cache is used without network.
"""
from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from hrseg.errors import CheckpointError
from hrseg.utils.io import atomic_path

log = logging.getLogger("hrseg")
_CHUNK = 1 << 20


def hrseg_home() -> Path:
    """``$HRSEG_HOME``, else ``<torch.hub.get_dir()>/hrseg``."""
    env = os.environ.get("HRSEG_HOME")
    if env:
        return Path(env).expanduser()
    import torch.hub

    return Path(torch.hub.get_dir()) / "hrseg"


def cache_dir() -> Path:
    return hrseg_home() / "weights"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dst: str | os.PathLike, sha256_prefix: str | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dst`` (temporary name, hash check, atomic rename).

    Raises :class:`CheckpointError` naming the URL and ``dst`` (where to put the file by hand)
    when ``HRSEG_OFFLINE`` is set (no network is tried), when the download fails, is shorter than announced, or its hash does not start with
    ``sha256_prefix``; nothing is left at ``dst`` or beside it then.
    """
    dst = Path(dst)
    by_hand = f"download it by hand and put it at {dst}"
    if os.environ.get("HRSEG_OFFLINE") and not url.startswith("file:"):
        raise CheckpointError(f"offline (HRSEG_OFFLINE is set): {url} is not in the cache; {by_hand}")
    digest = hashlib.sha256()
    try:
        with atomic_path(dst) as tmp:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                received = _copy(response, out, digest, total, dst.name, progress)
            if total is not None and received != total:
                raise CheckpointError(f"{url}: download truncated ({received} of {total} bytes); {by_hand}")
            got = digest.hexdigest()
            if sha256_prefix and not got.startswith(sha256_prefix):
                raise CheckpointError(f"{url}: SHA-256 {got[:8]}... does not match the published {sha256_prefix}: "
                                      f"damaged or replaced file, not kept; {by_hand}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise CheckpointError(f"could not download {url} ({reason}); {by_hand}") from None
    if not sha256_prefix:
        log.info(f"{dst.name}: no published hash to check it against (SHA-256 {digest.hexdigest()[:8]})")
    return dst


def _copy(response, out, digest, total: int | None, label: str, progress: bool) -> int:
    from tqdm import tqdm

    received = 0
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress, leave=False) as bar:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    return received
