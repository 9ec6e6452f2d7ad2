"""Summary of the lake's quarantine: what was kept out of the change logs, and why."""
from __future__ import annotations

from typing import Any

import pyarrow as pa

from projections.lake.store import QUARANTINE_SCHEMA, LakeStore


def quarantine_rows(store: LakeStore) -> pa.Table:
    keys = [k for k in store.list_keys("quarantine/") if k.endswith(".parquet")]
    if not keys:
        return QUARANTINE_SCHEMA.empty_table()
    return pa.concat_tables([store.read(k) for k in keys], promote_options="permissive")


def report(settings: Any, store: LakeStore | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(entity, expectation, column, rows, example reason) per group, most rows first."""
    store = store or LakeStore(settings.boto3_client("s3"), settings.boto3_client("glue"), settings.lake_bucket,
                               settings.glue_database)
    t = quarantine_rows(store)
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for r in t.select(["entity", "expectation", "column_name", "reason"]).to_pylist():
        g = groups.setdefault((r["entity"], r["expectation"], r["column_name"] or ""), [0, r["reason"]])
        g[0] += 1
    rows = sorted(((e, x, c, n, reason) for (e, x, c), (n, reason) in groups.items()),
                  key=lambda r: (-r[3], r[0], r[1], r[2]))
    return ["entity", "expectation", "column", "rows", "example_reason"], rows
