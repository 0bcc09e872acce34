"""A closed-loop load test of a running service: N clients, M requests in all.

Each client sends its share of the requests one after the other (a new one when the last is
answered), over its own keep-alive connection, and records the latency and status of each.
Every request is accounted for: answered with 2xx, refused with 429 (the queue limit), answered
with another status, or failed (connection error or timeout; these are the lost ones).
Standard library only, so it also runs where the service's extra is not installed.
"""
from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from hrseg.errors import ConfigError, DataError
from hrseg.serve.uploads import FORMATS
from hrseg.utils.net import is_loopback


def _target(url: str, allow_remote: bool) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(f"--url {url!r}: expected http://HOST:PORT/v1/TASK")
    if not allow_remote and not is_loopback(parts.hostname):
        raise ConfigError(f"--url {url!r}: not a loopback address (pass --allow-remote to load another machine)")
    path = parts.path or "/"
    return parts.hostname, parts.port or 80, path + (f"?{parts.query}" if parts.query else "")


def _content_type(image: Path, data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
    except Exception:  # noqa: BLE001
        raise DataError(f"{image}: not a readable image") from None
    if fmt not in FORMATS:
        raise DataError(f"{image}: a {fmt} image; the service takes JPEG, PNG or WebP")
    return FORMATS[fmt]


def run_load_test(url: str, image: str | Path, clients: int = 4, requests: int = 64, timeout: float = 60.0,
                  allow_remote: bool = False) -> dict[str, Any]:
    """Send ``requests`` POSTs of ``image`` to ``url`` from ``clients`` threads; the figures."""
    if clients < 1 or requests < 1 or requests > 100_000 or clients > 256:
        raise ConfigError(f"--clients {clients}, --requests {requests}: expected 1-256 clients and 1-100000 requests")
    host, port, path = _target(url, allow_remote)
    p = Path(image)
    if not p.is_file():
        raise DataError(f"{p}: image file not found")
    body = p.read_bytes()
    headers = {"Content-Type": _content_type(p, body)}
    try:  # nothing listening is one line, not a report of every request failed
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ConfigError(f"{url}: cannot connect ({e.strerror or type(e).__name__}); is `hrseg serve` running "
                          "there?") from None
    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    records: list[list[tuple[float, int | str]]] = [[] for _ in range(clients)]

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        for _ in range(shares[i]):
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status: int | str = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except TimeoutError:
                status = "timeout"
                conn.close()
            except (OSError, http.client.HTTPException) as e:
                status = f"error: {type(e).__name__}"
                conn.close()
            records[i].append((time.perf_counter() - t0, status))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = [r for rs in records for r in rs]
    return summarize(flat, wall, url, clients, requests)


def summarize(records: list[tuple[float, int | str]], wall: float, url: str, clients: int,
              requests: int) -> dict[str, Any]:
    """p50 / p99 latency of the 2xx answers, throughput, and every request's fate."""
    statuses = Counter(str(s) for _, s in records)
    ok = np.array([lat for lat, s in records if isinstance(s, int) and 200 <= s < 300]) * 1e3
    failed = sum(n for s, n in statuses.items() if not s.isdigit())
    return {
        "url": url, "clients": clients, "requests": requests, "wall_s": round(wall, 3),
        "ok": int(len(ok)), "rejected_429": statuses.get("429", 0),
        "other_status": sum(n for s, n in statuses.items() if s.isdigit() and s != "429" and not s.startswith("2")),
        "failed": failed, "lost": requests - len(records) + failed,
        "throughput_rps": round(len(ok) / wall, 3) if wall > 0 else 0.0,
        "p50_ms": round(float(np.percentile(ok, 50)), 1) if len(ok) else None,
        "p99_ms": round(float(np.percentile(ok, 99)), 1) if len(ok) else None,
        "mean_ms": round(float(ok.mean()), 1) if len(ok) else None,
        "statuses": dict(sorted(statuses.items())),
    }


def format_line(r: dict[str, Any]) -> str:
    return (f"{r['clients']:>3} clients, {r['requests']} requests: {r['ok']} ok, {r['rejected_429']} x 429, "
            f"{r['other_status']} other, {r['failed']} failed; p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
            f"{r['throughput_rps']} req/s ({r['wall_s']} s)")


