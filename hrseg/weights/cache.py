"""The weights cache: ``$HRSEG_HOME/weights`` (default ``<torch hub dir>/hrseg/weights``).

A file is downloaded to a temporary name beside its final one, with a progress bar, checked
against the SHA-256 prefix its published name carries, and only then renamed into place, so the
cache never holds a partial or wrong file. A file already in the cache is used without network;
one put there by hand (as the offline error says) is checked against that prefix when first used
(:func:`checked`), and a small ``<file>.verified`` beside it (its SHA-256, size and mtime, written
atomically after a download or a check) spares hashing it again while it is unchanged.
One process at a time downloads a file (a lock beside it, :func:`_download_lock`): processes
asking for the same weights at once (the ranks of a distributed run) wait and then find it, and
the temporary file a killed download left behind is known to be stale and removed.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

from hrseg.errors import CheckpointError, ConfigError
from hrseg.utils.io import atomic_path, make_folder, remove_stale_temporaries

try:  # POSIX; elsewhere downloads are not serialised and stale temporaries stay (see _download_lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

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


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path, digest: str, stat: os.stat_result) -> None:
    """Record that ``path``, as ``stat`` found it, has SHA-256 ``digest`` (best effort: a read-only
    cache is only hashed again next time)."""
    try:
        with atomic_path(_stamp_path(path)) as tmp:
            tmp.write_text(json.dumps({"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    except OSError as e:
        log.debug(f"{path}: could not record its hash check ({e})")


def _stamped_digest(path: Path, stat: os.stat_result) -> str | None:
    """The SHA-256 the stamp beside ``path`` records, if it describes the file as it is now."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or [stamp.get("size"), stamp.get("mtime_ns")] != [stat.st_size, stat.st_mtime_ns]:
        return None
    return stamp.get("sha256") if isinstance(stamp.get("sha256"), str) else None


def checked(path: str | os.PathLike, sha256_prefix: str | None) -> Path:
    """``path``, a file in the cache, once its SHA-256 is known to start with ``sha256_prefix``
    (nothing to check without one): hashed on first use and whenever it changed since, else the
    stamp written then is trusted. A mismatch is a :class:`CheckpointError` naming the file, both
    prefixes and what to do."""
    path = Path(path)
    if not sha256_prefix:
        return path
    stat = path.stat()
    digest = _stamped_digest(path, stat)
    if digest is None:
        digest = sha256_of(path)
        if digest.startswith(sha256_prefix):
            _stamp(path, digest, stat)
    if not digest.startswith(sha256_prefix):
        raise CheckpointError(f"{path}: SHA-256 starts {digest[:len(sha256_prefix)]}, not the published "
                              f"{sha256_prefix}: a damaged or different file; delete it and download it again "
                              "(or put the published file there)")
    return path


def download(url: str, dst: str | os.PathLike, sha256_prefix: str | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``dst`` (temporary name, hash check, atomic rename).

    Raises :class:`CheckpointError` naming the URL and ``dst`` (where to put the file by hand)
    when ``HRSEG_OFFLINE`` is set (no network is tried), when the download fails, is shorter than
    announced, or its hash does not start with ``sha256_prefix``; nothing is left at ``dst`` or
    beside it then. A download that matched ``sha256_prefix`` gets its stamp (:func:`checked`).
    Under the download lock, a file another process put at ``dst`` meanwhile is used, and the
    temporaries of ``dst`` a killed download left (:func:`hrseg.utils.io.remove_stale_temporaries`)
    are removed first: no other process is writing them.
    """
    dst = Path(dst)
    by_hand = f"download it by hand and put it at {dst}"
    if os.environ.get("HRSEG_OFFLINE") and not url.startswith("file:"):
        raise CheckpointError(f"offline (HRSEG_OFFLINE is set): {url} is not in the cache; {by_hand}")
    with _download_lock(dst):
        if dst.is_file():  # another process downloaded it while this one waited for the lock
            return checked(dst, sha256_prefix)
        for stale in remove_stale_temporaries(dst) if fcntl is not None else []:
            log.info(f"{stale}: removed, a download of {dst.name} that did not finish")
        return _fetch(url, dst, sha256_prefix, progress, by_hand)


@contextlib.contextmanager
def _download_lock(dst: Path) -> Iterator[None]:
    """Hold the lock of ``dst``: ``flock`` on ``.<name>.lock`` beside it (released by the system
    when a process dies), removed again on the way out, so the cache keeps no trace of it; a
    waiter that then holds a removed lock file takes the one there now. Where there is no ``fcntl``
    nothing is locked (and no temporary file can be known to be stale)."""
    if fcntl is None:
        yield
        return
    path = dst.with_name(f".{dst.name}.lock")
    try:
        make_folder(dst.parent)
        while True:
            lock = open(path, "a+b")  # noqa: SIM115 - held across the yield, closed below
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info(f"waiting for another process downloading {dst.name}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino:
                    break
            except FileNotFoundError:  # its holder removed it on the way out
                pass
            lock.close()
    except (ConfigError, OSError) as e:
        raise CheckpointError(f"{dst}: cannot write to the weights cache ({e})") from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        lock.close()  # releases the lock


def _fetch(url: str, dst: Path, sha256_prefix: str | None, progress: bool, by_hand: str) -> Path:
    """:func:`download`'s transfer: temporary name, hash check, atomic rename, stamp."""
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
    if sha256_prefix:
        _stamp(dst, digest.hexdigest(), dst.stat())
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
