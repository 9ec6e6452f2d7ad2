"""Bulk-index latency of the local OpenSearch stand-in alone: small bulks at a steady rate, as the
search projector sends them at the talk's rate, with nothing else running on the stack.

Why: the e2e search freshness tail (BENCHMARKS.md section 2) comes from osmem-server pausing a bulk
call for a second or more now and then, longer as the index grows. This measures that pause without
the rest of the pipeline, so it can be told apart from ours. Amazon OpenSearch merges segments in the
background; the pause is the stand-in's, not the design's.
"""
from __future__ import annotations

import time
from typing import Any

from bench.e2e import _pct

DOCS_PER_BULK = 7  # what one search invocation carries at 116/s (2 lanes, ~0.2 s reads)
PAUSE_S = 0.3  # a bulk call slower than this counts as a pause


def run(args: Any) -> dict[str, Any]:
    from bench.stackctx import private_stack
    from projections.search.client import make_client
    from projections.search.mappings import alias_name

    rate = float((args.rates or "200").split(",")[0])  # documents per second
    duration = args.duration or (10.0 if args.quick else 120.0)
    with private_stack() as settings:
        client, index = make_client(settings), alias_name("transactions", settings.table_prefix)
        lat: list[float] = []
        pauses: list[dict[str, float]] = []
        t0 = time.perf_counter()
        n = 0
        while (elapsed := time.perf_counter() - t0) < duration:
            due = t0 + n / rate
            if due > time.perf_counter():
                time.sleep(due - time.perf_counter())
            body: list[dict[str, Any]] = []
            for _ in range(DOCS_PER_BULK):
                n += 1
                tid = f"txn-{n:09d}"
                body += [{"index": {"_index": index, "_id": tid, "version": 1, "version_type": "external",
                                    "require_alias": True}},
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
                pauses.append({"at_s": round(elapsed, 1), "documents_before": n - DOCS_PER_BULK, "pause_s": round(dt, 3)})
    return {"documents_per_s": rate, "docs_per_bulk": DOCS_PER_BULK, "duration_s": duration, "documents": n,
            "bulk_p50_ms": _pct(lat, 50), "bulk_p99_ms": _pct(lat, 99), "bulk_max_ms": round(max(lat), 3),
            f"pauses_over_{PAUSE_S}s": pauses}
