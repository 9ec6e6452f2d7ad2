"""Bulk-index latency of the local OpenSearch stand-in alone: small bulks at a steady rate, as the
search projector sends them at the talk's rate, with nothing else running on the stack, once per bulk
size (each on a fresh index with the transactions mapping), side by side.

Why: the e2e search freshness tail (BENCHMARKS.md section 2) comes from osmem-server stalling bulk
calls now and then. It keeps one in-memory segment per write and merges them by size class (1-9,
10-99, 100-999 documents): ten runs of a class are re-indexed together, inside the write that makes
the tenth, with the index locked. Bulks of b documents (b < 10) end every 1,000 bulks in one write that
re-indexes ~1,000 b documents; bulks of 10-99 every 100 bulks in ~100 b. So the bulk size sets how
long and how often the stalls are. Sizes compared: 7 documents per bulk, 12 (the search mapping at
116/s with 2 lanes per shard) and 25 (with 1: ingestion/functions.py). Amazon OpenSearch merges
segments in the background; the stall is the stand-in's, not the design's.
"""
from __future__ import annotations

import time
from typing import Any

from bench.e2e import _pct

BULK_SIZES = (7, 12, 25)  # documents per bulk, compared in one run (see above)
PAUSE_S = 0.15  # a bulk call slower than this counts as a stall (p50 is ~3 ms)


def run(args: Any) -> dict[str, Any]:
    from bench.stackctx import private_stack
    from projections.search.client import make_client

    rate = float((args.rates or "200").split(",")[0])  # documents per second
    duration = args.duration or (10.0 if args.quick else 75.0)  # 75 s: two of the 7-document bulks' stalls
    out: dict[str, Any] = {"documents_per_s": rate, "duration_s": duration}
    with private_stack() as settings:
        client = make_client(settings)
        for size in BULK_SIZES:
            out[f"bulks_of_{size}"] = _paced(client, _fresh_index(client, f"bench-index-{size}"), rate, size, duration)
    return out


def _fresh_index(client: Any, name: str) -> str:
    from projections.search.mappings import SPECS_BY_RESOURCE, template_body

    settings = template_body(SPECS_BY_RESOURCE["transactions"])["template"]
    client.indices.create(index=name, body=settings)
    return name


def _paced(client: Any, index: str, rate: float, size: int, duration: float) -> dict[str, Any]:
    lat: list[float] = []
    pauses: list[dict[str, float]] = []
    t0 = time.perf_counter()
    n = 0
    while n / rate < duration:  # each bulk is sent at its due time, n / rate after the start
        due = t0 + n / rate
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        elapsed = time.perf_counter() - t0
        body: list[dict[str, Any]] = []
        for _ in range(size):
            n += 1
            tid = f"txn-{n:09d}"
            body += [{"index": {"_index": index, "_id": tid, "version": 1, "version_type": "external"}},
                     {"transaction_id": tid, "customer_id": f"cust-{n % 2000:04d}", "merchant": "ACME Grocery",
                      "amount": f"{n % 500}.{n % 100:02d}", "currency": "USD", "country": "US",
                      "posted_at": "2026-11-27T10:00:00.000000Z", "text": f"{tid} ACME Grocery US"}]
        a = time.perf_counter()
        r = client.bulk(body=body)
        dt = time.perf_counter() - a
        if r.get("errors"):
            raise RuntimeError(f"bulk refused: {r['items'][0]}")
        lat.append(dt * 1000)  # ms
        if dt > PAUSE_S:
            pauses.append({"at_s": round(elapsed, 1), "documents_before": n - size, "pause_s": round(dt, 3)})
    return {"docs_per_bulk": size, "documents": n, "bulks": len(lat), "bulk_p50_ms": _pct(lat, 50),
            "bulk_p99_ms": _pct(lat, 99), "bulk_max_ms": round(max(lat), 3), f"pauses_over_{PAUSE_S}s": pauses}
