"""Adapters that read the current state of every entity from each place it lives, as canonical Rows.

* command side: a strongly consistent, parallel Scan of each table. In AWS, for large tables, the
  same rows come from a DynamoDB export to S3 (ExportTableToPointInTime: no read capacity used,
  a consistent snapshot as of its export time); the comparison below is unchanged.
* search: every live (non-tombstone) document of each alias, paged by search_after.
* lake: the Athena views (athena_sql/views/), run locally by DuckDB over the Parquet on S3.
* warehouse: the Redshift views (redshift_sql/ddl/013_views.sql), locally on PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cqrs.resources import TABLES_BY_NAME
from cqrs.settings import Settings
from ingestion.change_event import decode_image
from reliability.canonical import VIEWS, Row, View, row_from_columns, row_from_item

Rows = dict[tuple[str, ...], Row]
STORES = ("search", "lake", "warehouse")


def scan_table(ddb: Any, table: str, segments: int = 4) -> list[dict[str, Any]]:
    """Every item of a table, decoded exactly, by a consistent parallel scan."""
    def one(seg: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kw: dict[str, Any] = {"TableName": table, "ConsistentRead": True, "Segment": seg, "TotalSegments": segments}
        while True:
            resp = ddb.scan(**kw)
            out += [decode_image(i) or {} for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return out
            kw["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=segments) as pool:
        return [i for part in pool.map(one, range(segments)) for i in part]


def command_items(settings: Settings, ddb: Any = None) -> dict[str, list[dict[str, Any]]]:
    """Items per view name."""
    ddb = ddb or settings.boto3_client("dynamodb")
    by_table = {t: scan_table(ddb, settings.table(t)) for t in {v.table for v in VIEWS}}
    out: dict[str, list[dict[str, Any]]] = {}
    for v in VIEWS:
        decl = TABLES_BY_NAME[v.table]
        out[v.name] = [i for i in by_table[v.table]
                       if decl.entity_for({k: i.get(k) for k in decl.key_names}) == v.entity]
    return out


def command_rows(items: dict[str, list[dict[str, Any]]]) -> dict[str, Rows]:
    out: dict[str, Rows] = {}
    for v in VIEWS:
        rows = (row_from_item(v, i) for i in items.get(v.name, []))
        out[v.name] = {r.key: r for r in rows}
    return out


def _keyed(view: View, records: list[dict[str, Any]]) -> Rows:
    return {r.key: r for r in (row_from_columns(view, d) for d in records)}


def search_records(settings: Settings, client: Any = None) -> dict[str, list[dict[str, Any]]]:
    from projections.search.client import make_client
    from projections.search.mappings import alias_name

    client = client or make_client(settings)
    out: dict[str, list[dict[str, Any]]] = {}
    for v in VIEWS:
        if not v.search:
            continue
        alias = alias_name(v.name, settings.table_prefix)
        client.indices.refresh(index=alias)
        docs: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": 1000, "sort": [{"id": "asc"}],
                                    "query": {"bool": {"filter": [{"term": {"deleted": False}}]}}}
            if after:
                body["search_after"] = after
            hits = client.search(index=alias, body=body)["hits"]["hits"]
            docs += [h["_source"] for h in hits]
            if len(hits) < 1000:
                break
            after = hits[-1]["sort"]
        out[v.name] = docs
    return out


def lake_records(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    from projections.lake import athena

    out: dict[str, list[dict[str, Any]]] = {}
    if settings.aws_endpoint_url:
        con = athena.local_connection(settings)  # one connection: the datasets are registered once
        try:
            for v in VIEWS:
                cols, rows = athena.run_local(con, f"SELECT * FROM {v.name}")
                out[v.name] = [dict(zip(cols, r)) for r in rows]
        finally:
            con.close()
        return out
    for v in VIEWS:
        cols, rows = athena.run_athena(settings, f"SELECT * FROM {v.name}")
        out[v.name] = [dict(zip(cols, r)) for r in rows]
    return out


def warehouse_records(settings: Settings, warehouse: Any = None) -> dict[str, list[dict[str, Any]]]:
    from projections.warehouse.adapters import from_settings

    wh = warehouse or from_settings(settings)
    out: dict[str, list[dict[str, Any]]] = {}
    for v in VIEWS:
        cols, rows = wh.query(f"SELECT * FROM {v.name}")
        out[v.name] = [dict(zip(cols, r)) for r in rows]
    return out


READERS = {"search": search_records, "lake": lake_records, "warehouse": warehouse_records}


def store_records(settings: Settings, store: str) -> dict[str, list[dict[str, Any]]]:
    return READERS[store](settings)


def store_rows(records: dict[str, list[dict[str, Any]]]) -> dict[str, Rows]:
    return {name: _keyed(next(v for v in VIEWS if v.name == name), recs) for name, recs in records.items()}


def iter_views(store: str) -> Iterator[View]:
    return (v for v in VIEWS if store != "search" or v.search)
