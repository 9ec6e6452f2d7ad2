"""Garbage collection for the stack's long-running Python processes (moto's server, the runner, the bench).

CPython's full collection walks every tracked object while holding the GIL. moto keeps every item, stream
record and message it stores as Python objects, so its heap grows through a run, and with it each full
collection: at 116/s, 0.3 s pauses after 60 s (626k objects), 1.9 s after 5 minutes (4.8 M), 11 s of its
CPU in all (BENCHMARKS.md, "garbage collection was the 5-minute run's hidden cost"). After each full
collection its survivors are frozen (`gc.freeze`: moved where the collector no longer looks), so a later
collection walks only what was allocated since.

What it costs: reference counting still frees a frozen object the moment nothing refers to it; only a
reference cycle that becomes garbage after its objects were frozen is never collected (the objects of a
request in flight during the collection, say). moto's peak RSS over a 5-minute run did not move.
"""
from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any


def freeze_survivors() -> Callable[[], None]:
    """From now on, freeze what survives each full collection. Returns the undo (tests)."""

    def after(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(after)

    def undo() -> None:
        gc.callbacks.remove(after)
        gc.unfreeze()

    return undo
