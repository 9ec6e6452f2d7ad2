"""The warehouse projector's logic between the pure row builder and an adapter: micro-batches,
per-record isolation of refused data by bisecting, and the outcome of every change.

A micro-batch is applied in one transaction (adapters). When the warehouse refuses it for its data
(`TerminalLoadError`, e.g. a NOT NULL constraint), the batch is split in halves and each half
applied again, down to the single change that is refused: that change is a failure with the
warehouse's reason, every other one is applied. Applying a half twice is harmless: the MERGEs are
version-guarded. A `TransientLoadError` stops the projection: the changes not yet applied are
returned as retryable so the event source mapping delivers them again.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ingestion.change_event import ChangeEvent
from projections.warehouse.adapters import TerminalLoadError, TransientLoadError, Warehouse
from projections.warehouse.rows import Batch, build_batch


@dataclass
class Outcome:
    applied: int = 0
    loads: int = 0
    failed: list[tuple[ChangeEvent, str]] = field(default_factory=list)  # terminal, with reason
    retry: list[ChangeEvent] = field(default_factory=list)  # transient: deliver again
    retry_reason: str = ""


class MicroBatcher:
    """Collects changes and hands out micro-batches of at most `size`, or older than `interval_s`
    (a long-running consumer calls `due()`; a Lambda invocation drains everything at its end)."""

    def __init__(self, size: int, interval_s: float, clock: Callable[[], float] = time.monotonic):
        if size < 1:
            raise ValueError("warehouse batch size must be at least 1")
        self.size, self.interval_s, self.clock = size, interval_s, clock
        self._buf: list[ChangeEvent] = []
        self._since: float | None = None

    def add(self, events: Iterable[ChangeEvent]) -> Iterator[list[ChangeEvent]]:
        for ch in events:
            if not self._buf:
                self._since = self.clock()
            self._buf.append(ch)
            if len(self._buf) >= self.size:
                yield self._take()

    def due(self) -> list[ChangeEvent] | None:
        if self._buf and self._since is not None and self.clock() - self._since >= self.interval_s:
            return self._take()
        return None

    def drain(self) -> Iterator[list[ChangeEvent]]:
        if self._buf:
            yield self._take()

    def _take(self) -> list[ChangeEvent]:
        out, self._buf, self._since = self._buf, [], None
        return out


def load(warehouse: Warehouse, events: list[ChangeEvent], out: Outcome) -> None:
    """Apply one micro-batch, isolating refused changes by bisection. Raises TransientLoadError."""
    batch = build_batch(events)
    out.failed.extend(batch.failures)
    bad = {id(ch) for ch, _ in batch.failures}
    good = [ch for ch in events if id(ch) not in bad]
    if good:
        _bisect(warehouse, good, out, None if batch.failures else batch)  # no failures: good == events, reuse it


def _bisect(warehouse: Warehouse, events: list[ChangeEvent], out: Outcome, built: Batch | None = None) -> None:
    try:
        out.loads += 1
        warehouse.apply(built if built is not None else build_batch(events))
        out.applied += len(events)
    except TerminalLoadError as e:
        if len(events) == 1:
            ch = events[0]
            out.failed.append((ch, f"{ch.key_string} v{ch.version}: {e}"))
            return
        mid = len(events) // 2
        _bisect(warehouse, events[:mid], out)
        _bisect(warehouse, events[mid:], out)


def project(warehouse: Warehouse, events: list[ChangeEvent], batch_size: int, interval_s: float) -> Outcome:
    out = Outcome()
    batcher = MicroBatcher(batch_size, interval_s)
    batches = [*batcher.add(events), *batcher.drain()]
    for i, chunk in enumerate(batches):
        try:
            load(warehouse, chunk, out)
        except TransientLoadError as e:
            out.retry = [ch for b in batches[i:] for ch in b]
            out.retry_reason = str(e)
            break
    return out
