"""A TCP pass-through that can be cut and restored: DELIBERATE FAULT STUB for outages in tests.

Stopping the stack's real OpenSearch would lose its in-memory indices for every other test sharing
the stack, so the fault suite puts this proxy between a private runner and the real server and
cuts it: clients then see exactly what a down server gives them (connection refused, connections
reset mid-request). `cqrs chaos` kills the real processes instead."""
from __future__ import annotations

import socket
import threading
from typing import Any


class Proxy:
    def __init__(self, target_host: str, target_port: int, port: int = 0):
        self.target = (target_host, target_port)
        self.port = port
        self._srv: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        self.port = srv.getsockname()[1]
        srv.listen(64)
        self._srv = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def down(self) -> None:
        srv, self._srv = self._srv, None
        if srv:
            # close() alone does not wake an accept() blocked in another thread on Linux: the socket
            # kept listening until it took one more connection, which then lived through the "outage"
            # (a pooled client connection never saw it). shutdown() wakes it at once.
            _close(srv)
        with self._lock:
            for c in list(self._conns):
                _close(c)
            self._conns.clear()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            if self._srv is not srv:  # cut while this connection was being accepted
                _close(client)
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._conns |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)


def _close(s: Any) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
