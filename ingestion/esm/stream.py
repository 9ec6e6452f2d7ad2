"""A stream event source mapping (Kinesis or DynamoDB Streams) with Lambda's documented semantics.

Per shard: records are read in order into a read-ahead buffer and spread over
`ParallelizationFactor` lanes by partition key (so order holds per key, as in Lambda). Each lane has
at most one batch in flight; a batch is cut at `BatchSize` records or when the oldest buffered record
has waited `MaximumBatchingWindowInSeconds`. A failing batch is retried, bisected
(`BisectBatchOnFunctionError`), or cut at the lowest failed item (`ReportBatchItemFailures`), and once
`MaximumRetryAttempts` or `MaximumRecordAgeInSeconds` is exceeded it goes to the on-failure
destination with its records, so the shard moves on. The checkpoint is the highest sequence number
below which every record is done, persisted after each batch; a restart resumes after it.
Closed shards are read to their end before their children start (splits and merges)."""
from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from ingestion.esm.checkpoints import CheckpointStore
from ingestion.esm.destinations import Destination, invocation_record
from ingestion.esm.invoke import BatchOutcome, Handler, LambdaContext, failed_from
from ingestion.esm.sources import ShardInfo, SourceRecord, StreamSource
from ingestion.faults import Faults
from ingestion.functions import Function, Mapping

SHARD_REFRESH_S = 10.0
# A shard read that came back with less than its limit is caught up: read it again no sooner than this.
# Lambda itself polls a Kinesis shard about once a second and a DynamoDB stream four times a second;
# locally every empty GetRecords costs the one moto process CPU that the writers need.
CAUGHT_UP_READ_S = 0.2


@dataclass
class Lane:
    queue: deque[SourceRecord] = field(default_factory=deque)
    future: Future[None] | None = None
    batch: list[SourceRecord] = field(default_factory=list)


@dataclass
class ShardState:
    info: ShardInfo
    lanes: list[Lane]
    iterator: str | None = None
    pending: OrderedDict[str, bool] = field(default_factory=OrderedDict)  # seq -> done, in shard order
    arrivals: dict[str, float] = field(default_factory=dict)
    last_read_seq: str | None = None
    read_to_end: bool = False
    last_read_at: float = 0.0
    last_empty_read_at: float = 0.0  # when the latest read that found nothing new started
    caught_up: bool = False  # the latest read returned less than its limit


class StreamMapping:
    def __init__(self, *, mapping_id: str, function: Function, mapping: Mapping, source: StreamSource,
                 checkpoints: CheckpointStore, handler: Callable[[], Handler], executor: Executor,
                 destination: Destination | None = None, faults: Faults | None = None,
                 stop: threading.Event | None = None, region: str = "us-east-1",
                 retry_base_s: float = 0.2, retry_cap_s: float = 2.0, read_ahead: int = 10000):
        self.id, self.function, self.mapping, self.source = mapping_id, function, mapping, source
        self.checkpoints, self.handler, self.executor = checkpoints, handler, executor
        self.destination, self.faults, self.region = destination, faults or Faults(), region
        self.stop = stop or threading.Event()
        self.retry_base_s, self.retry_cap_s, self.read_ahead = retry_base_s, retry_cap_s, read_ahead
        self.source_limit = getattr(source, "max_read", 10000)
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"esm:{mapping_id}"))
        self.shards: dict[str, ShardState] = {}
        self._known: list[ShardInfo] = []
        self._listed_at = 0.0
        self._lock = threading.Lock()
        self.stats = {"delivered": 0, "invocations": 0, "function_errors": 0, "sent_to_destination": 0,
                      "retries": 0}
        self.last_error: str | None = None
        self.last_activity_at = 0.0
        self.destination_log: list[str] = []

    # --- polling (runner thread) ------------------------------------------------------------
    def poll(self, now: float | None = None) -> bool:
        now = now or time.time()
        worked = False
        try:
            if now - self._listed_at > SHARD_REFRESH_S or not self._known:
                self._refresh_shards(now)
            for st in list(self.shards.values()):
                worked |= self._harvest(st)
                worked |= self._read(st, now)
                worked |= self._dispatch(st, now)
                if st.read_to_end and not st.pending and not any(l.future for l in st.lanes):
                    self.checkpoints.close(st.info.shard_id)
                    del self.shards[st.info.shard_id]
                    self._listed_at = 0.0  # children may start now
                    worked = True
        except Exception as e:  # noqa: BLE001 - a source error is reported and retried next poll
            self.last_error = f"polling {self.source.kind} {self.source.arn}: {type(e).__name__}: {e}"
            self.shards.clear()  # iterators may be stale: start again from the checkpoints
            self._listed_at = 0.0
        if worked:
            self.last_activity_at = now
        return worked

    def _refresh_shards(self, now: float) -> None:
        self._known = self.source.list_shards()
        self._listed_at = now
        ids = {s.shard_id for s in self._known}
        for info in self._known:
            sid = info.shard_id
            if sid in self.shards or self.checkpoints.is_closed(sid):
                continue
            parents = [p for p in (info.parent, info.adjacent_parent) if p and p in ids]
            if any(not self.checkpoints.is_closed(p) for p in parents):
                continue  # a child waits until its parents are fully processed
            lanes = [Lane() for _ in range(max(1, self.mapping.parallelization_factor))]
            self.shards[sid] = ShardState(info, lanes)

    def _read(self, st: ShardState, now: float) -> bool:
        if st.read_to_end or len(st.pending) >= self.read_ahead:
            return False
        delay = self.faults.delay_shard.get(st.info.shard_id, 0.0)
        if delay and now - st.last_read_at < delay:
            return False
        if st.caught_up and st.info.ending_sequence_number is None and now - st.last_read_at < CAUGHT_UP_READ_S:
            return False  # (a closed shard gets no new records: it is read to its end at once)
        if st.iterator is None:
            after = st.last_read_seq or self.checkpoints.get(st.info.shard_id)
            st.iterator = self.source.iterator(st.info.shard_id, after, self.mapping.starting_position)
        st.last_read_at = now
        limit = max(self.mapping.batch_size, 100)
        res = self.source.read(st.info.shard_id, st.iterator, limit)
        st.iterator = res.next_iterator
        st.caught_up = len(res.records) < min(limit, self.source_limit)
        if res.next_iterator is None:
            st.read_to_end = True
        if not res.records:
            st.last_empty_read_at = now
            if st.info.ending_sequence_number is not None:
                st.read_to_end = True  # moto never returns a null iterator for a closed shard
            return False
        factor = len(st.lanes)
        for r in res.records:
            st.pending[r.seq] = False
            st.arrivals[r.seq] = r.arrival
            lane = st.lanes[zlib.crc32(r.partition_key.encode()) % factor] if factor > 1 else st.lanes[0]
            lane.queue.append(r)
        st.last_read_seq = res.records[-1].seq
        return True

    def _dispatch(self, st: ShardState, now: float) -> bool:
        worked = False
        window = self.mapping.maximum_batching_window_in_seconds
        for lane in st.lanes:
            if lane.future is not None or not lane.queue:
                continue
            full = len(lane.queue) >= self.mapping.batch_size
            if not full and window and now - lane.queue[0].arrival < window and now - st.last_read_at < window:
                continue  # wait for the batching window (bounded by arrival and by our own read time)
            n = min(self.mapping.batch_size, len(lane.queue))
            lane.batch = [lane.queue.popleft() for _ in range(n)]
            lane.future = self.executor.submit(self._deliver, st.info.shard_id, lane.batch)
            worked = True
        return worked

    def _harvest(self, st: ShardState) -> bool:
        worked = False
        for lane in st.lanes:
            if lane.future is None or not lane.future.done():
                continue
            exc = lane.future.exception()
            lane.future = None
            if exc is not None:  # stopped mid-retry: the records stay pending and are read again
                self.last_error = f"batch abandoned: {exc}"
                st.pending.clear()
                st.arrivals.clear()
                for l2 in st.lanes:
                    l2.queue.clear()
                st.iterator, st.last_read_seq = None, None
                return True
            for r in lane.batch:
                if r.seq in st.pending:
                    st.pending[r.seq] = True
            lane.batch = []
            worked = True
        last: str | None = None
        for seq, done in list(st.pending.items()):  # advance over the done prefix, in shard order
            if not done:
                break
            del st.pending[seq]
            st.arrivals.pop(seq, None)
            last = seq
        if last is not None:
            self.checkpoints.set(st.info.shard_id, last)
        return worked

    # --- delivery (worker thread) ------------------------------------------------------------
    def _deliver(self, shard_id: str, records: list[SourceRecord]) -> None:
        todo: deque[list[SourceRecord]] = deque([records])
        m = self.mapping
        while todo:
            batch = todo.popleft()
            attempts = 0
            while batch:
                if self.stop.is_set():
                    raise RuntimeError("runner stopping")
                if m.maximum_record_age_in_seconds >= 0:
                    now = time.time()
                    expired = [r for r in batch if now - r.arrival > m.maximum_record_age_in_seconds]
                    if expired:
                        self._to_destination(shard_id, expired, "RecordAgeExceeded", attempts, None,
                                             f"older than MaximumRecordAgeInSeconds={m.maximum_record_age_in_seconds}")
                        gone = {id(r) for r in expired}
                        batch = [r for r in batch if id(r) not in gone]
                        continue
                k, why, ferr = self._invoke(batch)
                if k == BatchOutcome.OK:
                    with self._lock:
                        self.stats["delivered"] += len(batch)
                    break
                attempts += 1
                self.last_error = f"shard {shard_id} seq {batch[max(k, 0)].seq}: {why}"
                if k > 0:
                    with self._lock:
                        self.stats["delivered"] += k
                    batch = batch[k:]  # checkpoint at the lowest failed item; retry from there
                if m.bisect_batch_on_function_error and len(batch) > 1:
                    half = len(batch) // 2
                    todo.extendleft([batch[half:], batch[:half]])  # splits do not use up retries
                    break
                if 0 <= m.maximum_retry_attempts < attempts:
                    self._to_destination(shard_id, batch, "RetryAttemptsExhausted", attempts, ferr, why)
                    break
                with self._lock:
                    self.stats["retries"] += 1
                self.stop.wait(min(self.retry_cap_s, self.retry_base_s * 2 ** min(attempts - 1, 6)))

    def _invoke(self, batch: list[SourceRecord]) -> tuple[int, str, str | None]:
        with self._lock:
            self.stats["invocations"] += 1
        ids = [r.seq for r in batch]
        try:
            shaped = self.faults.shape(batch) if self.faults.active else batch
            event = {"Records": [r.event_record for r in shaped]}
            fn = self.handler()
            for _ in range(2 if self.faults.duplicate_batches else 1):
                ctx = LambdaContext(self.function.name, self.function.timeout_s, self.function.memory_mb,
                                    self.region)
                resp = fn(event, ctx)
        except Exception as e:  # noqa: BLE001 - a function error, as Lambda reports it
            with self._lock:
                self.stats["function_errors"] += 1
            return BatchOutcome.WHOLE, f"function error {type(e).__name__}: {e}", "Unhandled"
        k, why = failed_from(resp, ids, self.mapping.report_batch_item_failures)
        return k, why, None

    def _to_destination(self, shard_id: str, records: list[SourceRecord], condition: str, attempts: int,
                        ferr: str | None, why: str) -> None:
        if self.destination is None:
            # Lambda discards such records; we refuse to drop silently: they are counted and logged.
            self.last_error = f"{len(records)} record(s) discarded ({condition}, no on-failure destination): {why}"
        else:
            rec = invocation_record(
                function_arn=f"arn:aws:lambda:{self.region}:123456789012:function:{self.function.name}",
                source_kind=self.source.kind, source_arn=self.source.arn, shard_id=shard_id, records=records,
                condition=condition, invoke_count=attempts + 1, function_error=ferr, error_message=why)
            while True:
                try:
                    where = self.destination.send(rec, shard_id, records)
                    break
                except Exception as e:
                    self.last_error = f"on-failure destination unavailable, retrying: {e}"
                    if self.stop.wait(self.retry_cap_s):
                        raise RuntimeError("runner stopping") from e
            self.destination_log.append(where)
            del self.destination_log[:-20]
        with self._lock:
            self.stats["sent_to_destination"] += len(records)

    # --- status ------------------------------------------------------------------------------
    def in_flight(self) -> int:
        return sum(1 for st in self.shards.values() for l in st.lanes if l.future is not None)

    def caught_up_as_of(self) -> float | None:
        """Start time of the latest moment every shard was read empty with nothing pending."""
        if not self._known:
            return None
        if any(st.pending or any(l.future for l in st.lanes) for st in self.shards.values()):
            return None
        if not self.shards:
            return self._listed_at
        return min(st.last_empty_read_at for st in self.shards.values()) or None

    def status(self, now: float) -> dict[str, Any]:
        pending = sum(len(st.pending) for st in self.shards.values())
        oldest = min((a for st in self.shards.values() for a in st.arrivals.values()), default=None)
        positions = self.checkpoints.positions()
        return {
            "function": self.function.name, "kind": self.mapping.kind, "source": self.source.arn,
            "uuid": self.uuid,
            "shards": {sid: {"checkpoint": positions.get(sid), "read_up_to": st.last_read_seq,
                             "pending": len(st.pending), "closed": st.info.ending_sequence_number is not None}
                       for sid, st in self.shards.items()},
            "closed_shards_done": [s.shard_id for s in self._known if self.checkpoints.is_closed(s.shard_id)],
            "lag_records": pending, "lag_age_s": round(now - oldest, 3) if oldest else 0.0,
            "in_flight": self.in_flight(), **dict(self.stats), "last_error": self.last_error,
            "recent_destinations": list(self.destination_log[-5:]),
            "last_activity_at": self.last_activity_at, "caught_up_as_of": self.caught_up_as_of(),
        }
