"""cqrs.ports.free_port: ports for the local stack's servers, below the kernel's ephemeral range so an
outgoing connection cannot take one between the pick and the server's bind (a CI failure: moto's
"Address already in use"), and never one a listener holds. Real sockets."""
from __future__ import annotations

import socket
from pathlib import Path

from cqrs import ports


def test_ports_are_below_the_ephemeral_range_and_bindable():
    start = ports.ephemeral_start()
    assert start > 10000  # Linux's default is 32768; the machine here says so too
    for _ in range(30):
        port = ports.free_port()
        assert 10000 <= port < start
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_passed_over(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([busy, busy, busy + 1 if busy + 1 < ports.ephemeral_start() else busy - 1])

        class Picker:  # the random pick made to hit the busy port first: the collision to inject
            def randint(self, lo: int, hi: int) -> int:
                return next(picks)

        monkeypatch.setattr(ports.random, "SystemRandom", Picker)
        assert ports.free_port() != busy


def test_without_the_kernels_range_file_linux_default_is_assumed(monkeypatch, tmp_path):
    monkeypatch.setattr(ports, "_RANGE_FILE", Path(tmp_path / "absent"))
    assert ports.ephemeral_start() == 32768
