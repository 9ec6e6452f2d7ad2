"""`cqrs replay` rates: records per second rebuilding each read model from the lake, end to end.

A private embedded stack's lake is filled with N changes (bench.events batches written by the lake
projector's own `project`, as the live pipeline writes them), then `reliability.replay.replay` runs
exactly as `cqrs replay --to ...` does: read the change log through the lake's SQL engine (DuckDB
locally), rebuild the read model with every version guard. The timed span is the whole call.
Search replays a time window of the first changes only: osmem-server (the local stand-in for
OpenSearch) indexes a few hundred documents per second, so a full search rebuild would take minutes.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from bench.events import BASE_TIME, kinesis_event

_STEP = timedelta(milliseconds=37)  # bench.events: change i happens at BASE_TIME + 37 ms * i


def fill_lake(settings: Any, n: int, chunk: int = 5000) -> dict[str, Any]:
    from projections.lake import handler as lh

    store = lh._store(settings)
    ev = kinesis_event(n, seed=7)["Records"]
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    for i in range(0, n, chunk):
        for k, v in lh.project({"Records": ev[i:i + chunk]}, store, settings.table_prefix).items():
            counts[k] = counts.get(k, 0) + v
    return {"changes": n, "seconds": round(time.perf_counter() - t0, 2), "projected": counts}


def replay_rate(settings: Any, to: str, first: int | None = None, bulk: bool = True) -> dict[str, Any]:
    from reliability import warehouse_replay
    from reliability.replay import replay

    until = (BASE_TIME + _STEP * first).strftime("%Y-%m-%d %H:%M:%S.%f") if first else None
    warehouse_replay.LAST_PHASES.clear()
    t0, c0 = time.perf_counter(), time.process_time()
    p = replay(settings, to=to, until=until, quiet=True, bulk=bulk)
    s, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"command": f"cqrs replay --to {to}" + (f" --until '{until}'" if until else "")
           + ("" if bulk else "  (reliability.replay.replay(..., bulk=False): the per-record path)"),
           "changes": p.applied, "failed": len(p.failed), "seconds": round(s, 2),
           "records_per_s": round(p.applied / s) if s else 0,
           # CPU of this process only (DuckDB, Arrow, the handler...): the servers' CPU is not in it
           "process_cpu_s": round(cpu, 2)}
    if warehouse_replay.LAST_PHASES:
        out["phases"] = dict(warehouse_replay.LAST_PHASES)
    return out


def _fresh_warehouse(settings: Any) -> Any:
    from cqrs.provision import create_warehouse_database
    from projections.warehouse.adapters import PostgresWarehouse

    other = settings.with_(warehouse_dsn=settings.warehouse_dsn + "_per_record")
    create_warehouse_database(other.warehouse_dsn)
    PostgresWarehouse(other.warehouse_dsn).create_schema()
    return other


def _warehouse_counts(settings: Any) -> dict[str, int]:
    from projections.warehouse.adapters import from_settings

    wh = from_settings(settings)
    out = {}
    for t in ("fact_transactions", "fact_orders", "fact_order_lines"):
        _, ((n,),) = wh.query(f"SELECT count(*) FROM {t}")  # table names are ours, not user text
        out[t] = int(n)
    return out


def run(args: Any) -> dict[str, Any]:
    from bench.stackctx import private_stack

    n = 5_000 if args.quick else 100_000
    n_search = 500 if args.quick else 5_000
    n_per_record = 2_000 if args.quick else 20_000
    with private_stack() as settings:
        out: dict[str, Any] = {"lake_fill": fill_lake(settings, n)}
        out["warehouse"] = replay_rate(settings, "warehouse")
        out["warehouse"]["rows"] = _warehouse_counts(settings)
        # replayed again over the same warehouse: every change is an idempotent no-op
        again = replay_rate(settings, "warehouse")
        out["warehouse_again"] = {**again, "rows": _warehouse_counts(settings)}
        # the per-record path (synthesized records through the projector's handler), for comparison:
        # a window of the first changes, into a database of its own
        out["warehouse_per_record"] = replay_rate(_fresh_warehouse(settings), "warehouse", first=n_per_record,
                                                  bulk=False)
        out["search"] = replay_rate(settings, "search", first=n_search)
        return out
