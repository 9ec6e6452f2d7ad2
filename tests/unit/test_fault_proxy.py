"""The outage proxy the fault tests cut (reliability/proxy.py), on real sockets: after down() no
connection may reach the target, and after up() they do again."""
from __future__ import annotations

import socket
import threading

import pytest

from reliability.proxy import Proxy


@pytest.fixture
def echo():
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=c: [c.sendall(d) for d in iter(lambda: c.recv(1024), b"")], daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


def _reaches(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
            c.settimeout(1)
            c.sendall(b"ping")
            return c.recv(4) == b"ping"
    except OSError:
        return False


def test_no_connection_gets_through_a_cut_proxy(echo):
    # The accept thread is blocked in accept() when the proxy is cut: the first connection after the
    # cut used to be accepted and proxied (closing a socket does not wake accept() on Linux).
    for _ in range(20):
        p = Proxy("127.0.0.1", echo)
        assert _reaches(p.port)
        p.down()
        assert not _reaches(p.port)
        p.up()
        assert _reaches(p.port)
        p.down()
