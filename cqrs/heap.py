"""Garbage collection for the stack's long-running Python processes (moto's server, the runner, the bench).

CPython's full collection walks every tracked object while holding the GIL. moto keeps every item, stream
record and message it stores as Python objects, so its heap grows through a run, and with it each full
collection: 0.3 s pauses after 60 s at 116/s (626k objects), and 1.7 s of its CPU in 9 full collections
(BENCHMARKS.md, "Garbage collection"). After each full collection its survivors are frozen (`gc.freeze`:
moved where the collector no longer looks), so a later collection walks only what was allocated since.

What it costs: reference counting still frees a frozen object the moment nothing refers to it; only a
reference cycle that becomes garbage after its objects were frozen is never collected (a few per request
in flight during the collection). Measured as moto's peak RSS over a 5-minute run (BENCHMARKS.md).
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
