"""Rebuild/load rates against the embedded stack (no `cqrs replay` exists yet, so this measures the
two bulk stages a replay would run): the warehouse's COPY + version-guarded MERGE of staged rows
(PostgresWarehouse.apply, one transaction) and the search projector's bulk writes to osmem-server
(BulkWriter, item results checked). Inputs are built by the pure paths from bench.events batches."""
from __future__ import annotations

import time
from typing import Any

from bench.events import kinesis_event


def warehouse_rate(settings: Any, rows_target: int, chunk: int = 5000) -> dict[str, Any]:
    from ingestion.change_event import decode_lambda_event
    from projections.warehouse.adapters import from_settings
    from projections.warehouse.rows import build_batch

    wh = from_settings(settings)
    staged = records = 0
    load_s = 0.0
    seed = 0
    while staged < rows_target:
        seed += 1
        events = decode_lambda_event(kinesis_event(chunk, seed=seed, huge=False)).events
        # distinct keys per seed: ids carry the record index, so shift them per chunk
        batch = build_batch(events)
        batch.rows = {t: [(f"s{seed}-{r[0]}",) + r[1:] if t not in ("stage_dates", "stage_customers") else r
                          for r in rows] for t, rows in batch.rows.items()}
        t0 = time.perf_counter()
        wh.apply(batch)
        load_s += time.perf_counter() - t0
        staged += batch.row_count
        records += len(events)
    _, ((n,),) = wh.query("SELECT count(*) FROM fact_transactions")
    return {"staged_rows": staged, "records": records, "loads": seed, "seconds": round(load_s, 2),
            "staged_rows_per_s": round(staged / load_s), "records_per_s": round(records / load_s),
            "fact_transactions_rows": int(n)}


def search_rate(settings: Any, records: int, chunk: int = 500) -> dict[str, Any]:
    from ingestion.change_event import decode_lambda_event
    from projections.search.client import make_client
    from projections.search.documents import to_index_action
    from projections.search.writer import BulkWriter

    writer = BulkWriter(make_client(settings, timeout=60))
    events = decode_lambda_event(kinesis_event(records, seed=11)).events
    best: dict[Any, Any] = {}
    for ev in events:
        a = to_index_action(ev, settings.table_prefix)
        if a is not None and (a.key not in best or a.version > best[a.key].version):
            best[a.key] = a
    actions = list(best.values())
    t0 = time.perf_counter()
    written = failed = 0
    for i in range(0, len(actions), chunk):
        out = writer.write(actions[i:i + chunk])
        written += len(out.written)
        failed += len(out.failed)
    s = time.perf_counter() - t0
    return {"documents": len(actions), "written": written, "failed": failed, "bulk_size": chunk,
            "seconds": round(s, 2), "documents_per_s": round(len(actions) / s)}


def run(args: Any) -> dict[str, Any]:
    from bench.stackctx import private_stack

    rows = 10_000 if args.quick else 100_000
    docs = 2_000 if args.quick else 20_000
    with private_stack() as settings:
        return {"warehouse_copy_merge": warehouse_rate(settings, rows),
                "search_bulk_osmem": search_rate(settings, docs)}
