"""DELIBERATE FAULT STUBS for tests and chaos work: faults the real services will not produce on
demand (Lambda redelivering a batch, a handler crashing at record k, a poison record, a slow shard).
Nothing here runs unless configured, per mapping, in `<state_dir>/runner/faults.json`
(`{"<function name>": {"crash_at_record": 7, ...}}`) or passed to the runner in code."""
from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ingestion.esm.sources import SourceRecord

POISON_DATA = base64.b64encode(b"\x00poison: not a Kinesis Data Streams for DynamoDB record").decode()


class InjectedCrash(RuntimeError):
    """Raised instead of calling the handler: a deliberate fault (crash_at_record)."""


@dataclass
class Faults:
    duplicate_batches: bool = False  # every batch is delivered twice (at-least-once)
    reorder_key_disjoint: bool = False  # records of different keys swap places; per-key order kept
    crash_at_record: int | None = None  # the invocation holding the k-th record (1-based) crashes, once
    poison_record_at: int | None = None  # the k-th record's data is replaced by garbage, every delivery
    delay_shard: dict[str, float] = field(default_factory=dict)  # shard id -> seconds between reads
    _seen: int = 0
    _crashed: bool = False
    _poisoned: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Faults:
        names = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(names)}")
        return cls(**d)

    @property
    def active(self) -> bool:
        return bool(self.duplicate_batches or self.reorder_key_disjoint or self.crash_at_record
                    or self.poison_record_at or self.delay_shard)

    def shape(self, records: list[SourceRecord]) -> list[SourceRecord]:
        """Apply the record faults to a batch about to be delivered; may raise InjectedCrash."""
        with self._lock:
            start = self._seen
            self._seen += len(records)
            if self.poison_record_at and start < self.poison_record_at <= self._seen:
                self._poisoned.add(records[self.poison_record_at - start - 1].seq)
            crash = (self.crash_at_record is not None and not self._crashed
                     and start < self.crash_at_record <= self._seen)
            if crash:
                self._crashed = True
        if crash:
            raise InjectedCrash(f"deliberate fault: crash at record {self.crash_at_record}")
        out = [_poison(r) if r.seq in self._poisoned else r for r in records]
        if self.reorder_key_disjoint:
            out = _reorder(out)
        return out


def _poison(r: SourceRecord) -> SourceRecord:
    rec = json.loads(json.dumps(r.event_record))
    if "kinesis" in rec:
        rec["kinesis"]["data"] = POISON_DATA
    else:
        rec["dynamodb"].pop("Keys", None)
    return SourceRecord(r.seq, r.partition_key, r.arrival, rec, r.size)


def _reorder(records: list[SourceRecord]) -> list[SourceRecord]:
    """Groups by key kept in order, groups emitted last-seen first: a legal reordering across keys."""
    groups: dict[str, list[SourceRecord]] = {}
    for r in records:
        groups.setdefault(r.partition_key, []).append(r)
    return [r for g in reversed(list(groups.values())) for r in g]


def load(state_dir: Path) -> dict[str, Faults]:
    path = Path(state_dir) / "runner" / "faults.json"
    try:
        raw = json.loads(path.read_text())
    except OSError:
        return {}
    return {name: Faults.from_dict(cfg) for name, cfg in raw.items()}
