"""What a handler reuses across warm invocations (clients, stores): made on first use, never at
import, once per key. Locked: the local runner, like Lambda with parallelization, may call handlers
from several threads at once."""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_lock = threading.Lock()


def reused(cache: dict[K, V], key: K, make: Callable[[], V]) -> V:
    """`cache[key]`, made by `make()` the first time."""
    with _lock:
        if key not in cache:
            cache[key] = make()
        return cache[key]
