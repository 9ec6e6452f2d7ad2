"""The event pipe's PutEvents batching: calls of at most 10 entries and 256 KB, several in flight,
only rejected entries put again, and records whose events stay rejected (or whose call raised)
reported, never dropped. The client is a stub: it injects rejections and exceptions that the real
bus (moto) does not produce on demand."""
from __future__ import annotations

import threading
import time

from ingestion.pipe import MAX_CALL_BYTES, chunks, entry_size, put_events


def _entries(n: int, detail_bytes: int = 10) -> list[tuple[str, dict]]:
    return [(f"r{i:04d}", {"Source": "s", "DetailType": "d", "Detail": "x" * detail_bytes, "EventBusName": "b"})
            for i in range(n)]


class _Bus:
    """Records every entry; rejects an entry's first `reject_times` puts; raises for marked calls."""

    def __init__(self, reject: frozenset[str] | set[str] = frozenset(), reject_times: int = 1, raise_for: str | None = None,
                 delay_s: float = 0.0):
        self.lock = threading.Lock()
        self.calls: list[list[dict]] = []
        self.accepted: list[str] = []
        self.reject, self.reject_times, self.raise_for, self.delay_s = reject, reject_times, raise_for, delay_s
        self.tries: dict[str, int] = {}
        self.in_flight = self.max_in_flight = 0

    def put_events(self, Entries):
        assert 1 <= len(Entries) <= 10
        with self.lock:
            self.calls.append(Entries)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            if self.raise_for and any(e["Detail"] == self.raise_for for e in Entries):
                raise ConnectionError("connection reset")
            res = []
            with self.lock:
                for e in Entries:
                    rid = e["Resources"][0]
                    self.tries[rid] = self.tries.get(rid, 0) + 1
                    if rid in self.reject and self.tries[rid] <= self.reject_times:
                        res.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"})
                    else:
                        self.accepted.append(rid)
                        res.append({"EventId": rid})
            return {"FailedEntryCount": sum("ErrorCode" in r for r in res), "Entries": res}
        finally:
            with self.lock:
                self.in_flight -= 1


def _tagged(n: int) -> list[tuple[str, dict]]:
    return [(rid, {**e, "Resources": [rid]}) for rid, e in _entries(n)]


def test_calls_hold_at_most_10_entries_and_256_kb():
    assert [len(c) for c in chunks(_entries(25))] == [10, 10, 5]
    big = _entries(5, detail_bytes=100_000)  # three fit in 256 KB, not four
    calls = chunks(big)
    assert [len(c) for c in calls] == [2, 2, 1]
    assert all(sum(entry_size(e) for _, e in c) <= MAX_CALL_BYTES for c in calls)
    huge = _entries(1, detail_bytes=MAX_CALL_BYTES + 1) + _entries(2)
    assert [len(c) for c in chunks(huge)] == [1, 2]  # too big alone: sent alone, refused, reported


def test_every_entry_is_put_once_with_calls_in_parallel():
    bus = _Bus(delay_s=0.02)
    assert put_events(bus, _tagged(95), concurrency=4) == set()
    assert sorted(bus.accepted) == [f"r{i:04d}" for i in range(95)]
    assert len(bus.calls) == 10 and bus.max_in_flight > 1


def test_only_rejected_entries_are_put_again():
    bus = _Bus(reject={"r0003", "r0017"}, reject_times=1)
    assert put_events(bus, _tagged(20), sleep=lambda s: None) == set()
    assert sorted(bus.accepted) == [f"r{i:04d}" for i in range(20)]
    assert len(bus.calls) == 3 and sorted(e["Resources"][0] for e in bus.calls[-1]) == ["r0003", "r0017"]


def test_entries_still_rejected_or_in_a_call_that_raised_are_reported():
    bus = _Bus(reject={"r0005"}, reject_times=99)
    assert put_events(bus, _tagged(12), retries=2, sleep=lambda s: None) == {"r0005"}
    assert bus.tries["r0005"] == 3
    entries = _tagged(20)
    entries[13][1]["Detail"] = "boom"  # the second call (entries 10-19) raises every time
    bus = _Bus(raise_for="boom")
    assert put_events(bus, entries, retries=1, sleep=lambda s: None) == {f"r{i:04d}" for i in range(10, 20)}
    assert sorted(bus.accepted) == [f"r{i:04d}" for i in range(10)]
