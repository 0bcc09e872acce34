"""Addresses: whether a host is this machine (the service binds, and the load test sends, only
to loopback unless told otherwise)."""
from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
