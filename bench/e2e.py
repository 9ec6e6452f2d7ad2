"""End to end freshness on the embedded stack: card transactions posted through the command side
(services.transactions) at a paced rate -> DynamoDB -> forwarder -> Kinesis -> runner -> projectors.

Freshness of a transaction in a read model = the first poll that sees it there minus the time its
command-side write returned (the time the poll's answer arrived: an upper bound). Pollers run every
POLL_S_BY_MODEL[model], so figures carry up to that much granularity (0.2 s for search; at 0.1 s its terms queries cost osmem-server ~15% of a core).
The posting window is fixed (`duration`): when the poster itself cannot keep the rate (DynamoDB on
moto is the limit on a small box) it posts fewer, and `rate_achieved` says so.
The backlog "grows" when the p99 freshness of the second half of the run exceeds 1.25 x the first
half's + 5 s, or a read model does not catch up within DRAIN_S after posting stops.
"""
from __future__ import annotations

import io
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

POLL_S = 0.5
# Search's goal is seconds, so it is looked at every 0.2 s (a terms query on the pending ids); lake and
# warehouse (goal 60 s) every 0.5 s: they list and download from moto, and that CPU is the box's.
# `changes` is not a read model: the time until a change is on the Kinesis stream (the forwarder's hop),
# read by a reader of its own, so each read model's figure splits into that hop and its projector's.
POLL_S_BY_MODEL = {"changes": 0.2, "search": 0.2, "lake": POLL_S, "warehouse": POLL_S}
DRAIN_S = 90.0
TALK_RATE = 116.0  # 10M card transactions a day
# The rate search: up from the talk's rate in steps of ~30%, stopping at the first rate not sustained,
# so the highest one reported is within a step of the real limit.
RATE_STEPS = (TALK_RATE, 150.0, 200.0, 250.0, 325.0, 425.0, 550.0)


def _pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))], 3)


class Tracker:
    """Write times and first-seen times per read model. The ids not yet seen are kept per model as they
    come and go: listing them by a walk over every id written cost the harness O(run) per poll, a CPU
    share that grew through a 5-minute run on a box where every core is spoken for."""

    def __init__(self, models: tuple[str, ...]):
        self.lock = threading.Lock()
        self.written: dict[str, float] = {}
        self.seen: dict[str, dict[str, float]] = {m: {} for m in models}
        self.unseen: dict[str, dict[str, None]] = {m: {} for m in models}  # insertion-ordered sets

    def wrote(self, tid: str, t: float) -> None:
        with self.lock:
            self.written[tid] = t
            for m, unseen in self.unseen.items():
                if tid not in self.seen[m]:
                    unseen[tid] = None

    def pending(self, model: str) -> list[str]:
        with self.lock:
            return list(self.unseen[model])

    def saw(self, model: str, ids: Any, t: float) -> None:
        with self.lock:
            s, unseen = self.seen[model], self.unseen[model]
            for i in ids:
                if i in self.written and i not in s:
                    s[i] = t
                    unseen.pop(i, None)


def _changes_poller(settings: Any) -> Callable[[list[str]], set[str]]:
    """Transaction ids that reached the `changes` stream since the last call (a reader from LATEST,
    started before the first post)."""
    import orjson

    kinesis, stream = settings.boto3_client("kinesis"), settings.changes_stream
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    iterators = {s["ShardId"]: kinesis.get_shard_iterator(StreamName=stream, ShardId=s["ShardId"],
                                                          ShardIteratorType="LATEST")["ShardIterator"] for s in shards}

    read: set[str] = set()  # read and not yet asked for (the poster records a write after its put returns)

    def poll(ids: list[str]) -> set[str]:
        for sid, it in list(iterators.items()):
            while it:
                r = kinesis.get_records(ShardIterator=it, Limit=10000)
                it = iterators[sid] = r.get("NextShardIterator")
                for rec in r["Records"]:
                    keys = orjson.loads(rec["Data"]).get("dynamodb", {}).get("Keys", {})
                    tid = keys.get("TransactionId", {}).get("S")
                    if tid:
                        read.add(tid)
                if not r["Records"] or not r.get("MillisBehindLatest"):
                    break
        answered = read.intersection(ids)
        read.difference_update(answered)
        return answered
    return poll


def _search_poller(settings: Any) -> Callable[[list[str]], set[str]]:
    from projections.search.client import make_client
    from projections.search.mappings import alias_name

    client, index = make_client(settings), alias_name("transactions", settings.table_prefix)

    def poll(ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            r = client.search(index=index, body={"query": {"terms": {"transaction_id": chunk}},
                                                 "_source": ["transaction_id"], "size": len(chunk)})
            found.update(h["_source"]["transaction_id"] for h in r["hits"]["hits"])
        return found
    return poll


def _lake_poller(settings: Any) -> Callable[[list[str]], set[str]]:
    import pyarrow.parquet as pq

    s3, read = settings.boto3_client("s3"), set()

    def poll(ids: list[str]) -> set[str]:
        found: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket,
                                                                  Prefix="changes/transaction/"):
            for o in page.get("Contents", []):
                if o["Key"] in read:
                    continue
                read.add(o["Key"])
                body = s3.get_object(Bucket=settings.lake_bucket, Key=o["Key"])["Body"].read()
                found.update(pq.read_table(io.BytesIO(body), columns=["transaction_id"]).column(0).to_pylist())
        return found
    return poll


def _warehouse_poller(settings: Any) -> Callable[[list[str]], set[str]]:
    import psycopg

    # One connection for the run (autocommit: each poll sees the latest commits); a connection per poll
    # forked a PostgreSQL backend twice a second on the cores the stack is measured on.
    conn: list[Any] = []

    def poll(ids: list[str]) -> set[str]:
        if not conn:
            conn.append(psycopg.connect(settings.warehouse_dsn, connect_timeout=5, autocommit=True))
        try:
            rows = conn[0].execute("SELECT transaction_id FROM fact_transactions WHERE transaction_id = ANY(%s)",
                                   (ids,)).fetchall()
        except psycopg.Error:
            conn.pop().close()  # reconnect on the next poll
            raise
        return {r[0] for r in rows}
    return poll


POLLERS = {"changes": _changes_poller, "search": _search_poller, "lake": _lake_poller,
           "warehouse": _warehouse_poller}


def run_rate(settings: Any, rate: float, duration: float, tag: str, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    from services.store import Store
    from services.transactions import TransactionsService, transaction

    tracker = Tracker(tuple(POLLERS))
    stop_posting, stop = threading.Event(), threading.Event()
    errors: dict[str, str] = {}

    def poll_loop(model: str, poll: Callable[[list[str]], set[str]]) -> None:
        while not stop.is_set():
            ids = tracker.pending(model)
            if ids:
                try:
                    tracker.saw(model, poll(ids), time.time())
                except Exception as e:  # noqa: BLE001 - e.g. the table or alias not created yet: poll again
                    errors[model] = f"{type(e).__name__}: {e}"[:200]
            if stop_posting.is_set() and not tracker.pending(model):
                return
            stop.wait(POLL_S_BY_MODEL[model])

    backlog: dict[str, dict[str, Any]] = {}  # runner mapping -> max backlog (records, age) while posting
    lag_samples: list[tuple[float, str, int]] = []  # (monotonic time, mapping, records behind)

    def lag_loop() -> None:
        # The runner's own view (status.json): also covers the event pipe and the Second Look's queue,
        # which no read model shows.
        from ingestion.runner import read_status

        while not stop_posting.is_set():
            st = read_status(settings.state_dir) or {}
            for mid, m in (st.get("mappings") or {}).items():
                name = mid.split("#")[0]
                cur = backlog.setdefault(name, {"max_lag_records": 0, "max_lag_age_s": 0.0})
                cur["max_lag_records"] = max(cur["max_lag_records"], int(m.get("lag_records") or 0))
                cur["max_lag_age_s"] = max(cur["max_lag_age_s"], round(float(m.get("lag_age_s") or 0.0), 1))
                lag_samples.append((time.monotonic(), name, int(m.get("lag_records") or 0)))
            stop_posting.wait(2.0)

    threads = [threading.Thread(target=poll_loop, args=(m, f(settings)), daemon=True) for m, f in POLLERS.items()]
    threads.append(threading.Thread(target=lag_loop, daemon=True))
    for t in threads:
        t.start()

    svc = TransactionsService(Store(settings.boto3_client("dynamodb"), settings))
    rng = random.Random(rate)
    n = int(rate * duration)
    t0 = time.monotonic()
    late = 0

    cutoff = t0 + duration + 2.0  # the window is fixed: a poster that cannot keep the rate posts fewer
    # Set when the run is interrupted (SIGTERM -> SystemExit, Ctrl-C): posters waiting for their turn return
    # at once. Before, the pool's workers slept out their schedule and kept the process alive that long.
    aborted = threading.Event()

    def post(i: int) -> None:
        nonlocal late
        if aborted.is_set() or time.monotonic() > cutoff:
            return
        due = t0 + i / rate
        wait = due - time.monotonic()
        if wait > 0:
            if aborted.wait(wait):
                return
        elif wait < -1.0:
            late += 1  # the poster itself could not keep the rate
        tid = f"{tag}-{i:07d}"
        item = transaction(tid, f"cust-{rng.randrange(2000):04d}", "ACME Grocery",
                           Decimal(f"{rng.randrange(1, 500)}.{rng.randrange(100):02d}"), "US",
                           datetime.now(UTC))
        svc.post(item)
        tracker.wrote(tid, time.time())

    workers = max(4, min(64, int(rate // 4) + 2))  # a put to moto takes 10-300 ms on a busy box: many in flight
    pool = ThreadPoolExecutor(workers)
    try:
        for f in [pool.submit(post, i) for i in range(n)]:
            f.result()
    except BaseException:
        aborted.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    posted_in = time.monotonic() - t0
    n = len(tracker.written)
    stop_posting.set()
    deadline = time.monotonic() + DRAIN_S
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stop.set()

    out: dict[str, Any] = {"rate_target": rate, "posted": n, "posting_s": round(posted_in, 1),
                           "rate_achieved": round(n / posted_in, 1), "poster_late": late}
    sustainable = late < n * 0.01
    ordered = sorted(tracker.written, key=tracker.written.get)  # type: ignore[arg-type]
    half = len(ordered) // 2
    for model in POLLERS:
        seen = tracker.seen[model]
        lag = {t: seen[t] - tracker.written[t] for t in ordered if t in seen}
        vals = list(lag.values())
        first = [lag[t] for t in ordered[:half] if t in lag]
        second = [lag[t] for t in ordered[half:] if t in lag]
        missing = len(ordered) - len(lag)
        grows = bool(missing) or (bool(first) and bool(second) and
                                   (_pct(second, 99) or 0) > 1.25 * (_pct(first, 99) or 0) + 5)
        sustainable = sustainable and not grows
        out[model] = {"p50_s": _pct(vals, 50), "p99_s": _pct(vals, 99), "max_s": round(max(vals), 3) if vals else None,
                      "mean_s": round(statistics.fmean(vals), 3) if vals else None, "not_visible": missing,
                      "p99_first_half_s": _pct(first, 99), "p99_second_half_s": _pct(second, 99),
                      "backlog_grows": grows, **({"last_error": errors[model]} if model in errors else {})}
    for name, grew in backlog_growth(lag_samples, t0, posted_in, rate).items():
        backlog.setdefault(name, {"max_lag_records": 0, "max_lag_age_s": 0.0})["grows"] = grew
        sustainable = sustainable and not grew
    out["sustainable"] = sustainable
    out["runner_max_backlog_while_posting"] = backlog
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    log(f"  e2e {rate:g}/s for {duration:g}s: " + ", ".join(
        f"{m} p50 {out[m]['p50_s']}s p99 {out[m]['p99_s']}s max {out[m]['max_s']}s" for m in POLLERS)
        + f"; sustainable={sustainable}")
    return out


def backlog_growth(samples: list[tuple[float, str, int]], t0: float, posting_s: float, rate: float) -> dict[str, bool]:
    """Per runner mapping: did its backlog (records behind) grow through the posting window? As for
    freshness, "grows" is the second half's largest above 1.25 x the first half's + 5 s of posts. A
    consumer that falls behind (the Second Look's queue, the event pipe) is not sustained either, though
    no read model shows it."""
    halves: dict[str, list[int]] = {}
    for t, name, records in samples:
        h = halves.setdefault(name, [0, 0])
        i = 0 if t - t0 < posting_s / 2 else 1
        h[i] = max(h[i], records)
    return {name: h[1] > 1.25 * h[0] + 5 * rate for name, h in halves.items()}


def run(args: Any) -> dict[str, Any]:
    from bench.stackctx import private_stack
    from cqrs.heap import freeze_survivors

    duration = args.duration or (300.0 if args.full else (20.0 if args.quick else 60.0))
    rates = [float(r) for r in args.rates.split(",")] if args.rates else \
        ([TALK_RATE] if args.quick or args.full else list(RATE_STEPS))
    results = []
    thaw = freeze_survivors()  # the poster and pollers share the cores with the stack they measure (cqrs.heap)
    try:
        with private_stack(progress=lambda m: print(f"  stack: {m}", file=sys.stderr, flush=True)) as settings:
            for i, rate in enumerate(rates):
                r = run_rate(settings, rate, duration, f"bench{int(time.time())}r{i}")
                results.append(r)
                if not r["sustainable"]:
                    break  # higher rates will not do better
    finally:
        thaw()
    ok = [r["rate_target"] for r in results if r["sustainable"]]
    return {"duration_s": duration, "poll_interval_s": POLL_S_BY_MODEL, "runs": results,
            "highest_sustainable_rate_tried": max(ok) if ok else None}
