"""Ports for the local stack's servers to listen on.

Why not the usual bind(0)-and-close: the port the kernel hands out then comes from its ephemeral
range, returns to it when the probe socket closes, and any outgoing connection (the tests open
thousands) may take it as its source port before the server binds it. Seen in CI: moto exiting with
"Address already in use" and the stack failing to start. A port below that range is never handed to
an outgoing connection; the bind check here rules out a listener already on it.
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000  # above the well-known and registered ports local services tend to use


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (Linux; 32768, its default, elsewhere)."""
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, below the ephemeral range when it has room (else from bind(0))."""
    top = ephemeral_start() - 1
    rng = random.SystemRandom()  # not the seeded module random: parallel test workers must not agree
    for _ in range(50) if top > _LOWEST else ():
        port = rng.randint(_LOWEST, top)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
