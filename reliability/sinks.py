"""Apply Kinesis Lambda events to a read model by calling its projector exactly as Lambda does
(`process`/`handle` with injected clients). Returns the records the projector reported failed."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cqrs.settings import Settings

Sink = Callable[[Mapping[str, Any]], list[str]]


def _failed(resp: Mapping[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in resp.get("batchItemFailures", [])]


def make_sink(settings: Settings, store: str) -> Sink:
    s3 = settings.boto3_client("s3")
    if store == "search":
        from projections.search import handler as sh
        from projections.search.client import make_client
        from projections.search.writer import BulkWriter

        client = make_client(settings)
        return lambda ev: _failed(sh.process(ev, search=client, s3=s3, settings=settings,
                                             writer=BulkWriter(client, refresh=True)))
    if store == "lake":
        from projections.lake import handler as lh

        def lake(ev: Mapping[str, Any]) -> list[str]:
            # A quarantined row is a failure here (the handler itself only fails on S3/Glue errors):
            # redrive and repair must know the record did not reach the change log.
            counts = lh.project(ev, lh._store(settings), settings.table_prefix)
            if counts["quarantined"]:
                return [r["kinesis"]["sequenceNumber"] for r in ev.get("Records", [])]
            return []

        return lake
    if store == "warehouse":
        from projections.warehouse import handler as wh
        from projections.warehouse.adapters import from_settings

        warehouse = from_settings(settings)
        return lambda ev: _failed(wh.process(ev, warehouse=warehouse, s3=s3, settings=settings))
    raise ValueError(f"unknown read model {store!r}; known: search, lake, warehouse")
