"""Rebuilding read models outside the live stream: replay, redrive, backfill.

All three synthesize the Kinesis records the projectors read (reliability.synth) and call each
projector's own handler (reliability.sinks), so every version guard holds: applying anything twice,
or an older version after a newer one, changes nothing. That is what makes each of them safe to
re-run after an interruption.
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from cqrs.resources import TABLES
from cqrs.settings import Settings
from projections.lake.schema import ENTITIES
from reliability import synth
from reliability.sinks import make_sink

STORE_OF_FUNCTION = {"search-projector": "search", "lake-projector": "lake", "warehouse-projector": "warehouse"}
# Entities replayed (order lines are derived from orders by the projectors themselves).
REPLAYED = ("order", "cart", "product", "inventory_movement", "payment", "transaction", "alert")
TABLE_OF_ENTITY = {"inventory_movement": "ProductCatalog", **{t.entity: t.name for t in TABLES}}
_NUMERIC_NESTED = {"Qty", "UnitPrice", "LineAmount"}


@dataclass
class Progress:
    applied: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.applied / self.seconds if self.seconds else 0.0


def _nested_decimals(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: (Decimal(x) if k in _NUMERIC_NESTED and isinstance(x, (str, int)) else _nested_decimals(x))
                for k, x in v.items()}
    if isinstance(v, list):
        return [_nested_decimals(x) for x in v]
    return v


def _ts(v: Any) -> str:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(v)


def image_from_lake_row(entity: str, row: dict[str, Any]) -> dict[str, Any]:
    """A change-log row -> the DynamoDB image it was built from (exact: decimals stay Decimal)."""
    img: dict[str, Any] = {}
    for c in ENTITIES[entity].columns:
        v = row.get(c.name)
        if v is None or c.attr == "ItemCount":  # derived by the projectors, not an attribute
            continue
        if c.kind == "json":
            v = _nested_decimals(orjson.loads(v))
        elif c.kind == "decimal":
            v = Decimal(v) if not isinstance(v, Decimal) else v
        elif c.kind == "bigint":
            v = Decimal(int(v))
        elif c.kind == "timestamp":
            v = _ts(v)
        img[c.attr] = v
    if entity == "product":
        img["TranID"] = "0"
    return img


def _change_log_sql(entity: str, since: str | None, until: str | None,
                    keys: list[str] | None) -> tuple[str, list[Any]]:
    ent = ENTITIES[entity]
    where, params = change_log_filters(entity, since, until, keys)
    return f"SELECT * FROM {ent.table}{where} ORDER BY {', '.join(ent.keys)}, version", params


def change_log_filters(entity: str, since: str | None, until: str | None,
                       keys: list[str] | None) -> tuple[str, list[Any]]:
    """` WHERE ...` over a change log (a time window, keys) and its bound parameters: never pasted."""
    where: list[str] = []
    params: list[Any] = []
    if since:
        where.append("event_time >= CAST(? AS TIMESTAMP)")
        params.append(since)
    if until:
        where.append("event_time < CAST(? AS TIMESTAMP)")
        params.append(until)
    if keys:
        where.append(f"{ENTITIES[entity].keys[0]} IN ({', '.join('?' for _ in keys)})")
        params += keys
    return (" WHERE " + " AND ".join(where) if where else ""), params


def _local_changes(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def lake_changes(settings: Settings, entity: str, since: str | None, until: str | None,
                 keys: list[str] | None, con: Any = None) -> list[dict[str, Any]]:
    """The change log of one entity (one row per change), oldest version first, read through the
    lake's SQL engine (DuckDB locally, Athena in AWS). Filters are bound, never pasted.
    `con`: an open local DuckDB connection to reuse (opening one registers every lake table)."""
    from projections.lake import athena

    sql, params = _change_log_sql(entity, since, until, keys)
    if con is not None:
        return _local_changes(con, sql, params)
    if settings.aws_endpoint_url:
        con = athena.local_connection(settings)
        try:
            return _local_changes(con, sql, params)
        finally:
            con.close()
    import awswrangler as wr  # Athena: parameters bound by the service (execution parameters)

    df = wr.athena.read_sql_query(sql, database=settings.glue_database,
                                  params=params or None, paramstyle="qmark", ctas_approach=False)
    return df.to_dict("records")  # type: ignore[no-any-return]


def records_from_lake(settings: Settings, entity: str, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    table = TABLE_OF_ENTITY[entity]
    for row in rows:
        img = image_from_lake_row(entity, row)
        if row["op"] == "REMOVE":
            img["Version"] = Decimal(int(row["version"]) - 1)
            yield synth.tombstone(table, img, settings.region, settings.table(table))
        else:
            img["Version"] = Decimal(int(row["version"]))
            yield synth.upsert(table, img, settings.region, settings.table(table))


def _apply(sink: Callable[[Any], list[str]], records: Iterable[dict[str, Any]], total: int, desc: str,
           quiet: bool = False) -> Progress:
    from tqdm import tqdm

    out = Progress()
    t0 = time.monotonic()
    with tqdm(total=total, desc=desc, unit="chg", disable=quiet) as bar:
        for ev in synth.events(records):
            n = len(ev["Records"])
            out.failed += sink(ev)
            out.applied += n
            bar.update(n)
    out.seconds = time.monotonic() - t0
    return out


def _bulk_warehouse(settings: Settings) -> bool:
    """The bulk path needs the lake in DuckDB and a PostgreSQL warehouse: the local stack."""
    from projections.warehouse.adapters import PostgresWarehouse, from_settings

    if not (settings.aws_endpoint_url and settings.warehouse_dsn):
        return False
    wh = from_settings(settings)
    return isinstance(wh, PostgresWarehouse) and wh.target == "postgres"


def replay(settings: Settings, to: str, since: str | None = None, until: str | None = None,
           keys: list[str] | None = None, quiet: bool = False, bulk: bool = True) -> Progress:
    """Rebuild one read model from the lake's change log (every change, or a time window, or keys).
    Idempotent: versions guard every write, so a replay can be interrupted and run again.
    The local warehouse is rebuilt set-based (reliability.warehouse_replay: same staging rows, same
    version-guarded MERGEs); `bulk=False`, or Athena/Redshift, takes the per-record path."""
    entities = [e for e in REPLAYED if not (to == "search" and e in ("inventory_movement", "payment"))]
    sink = make_sink(settings, to)  # not indexed by design: search skips movements and payments
    if to == "warehouse" and bulk and _bulk_warehouse(settings):
        from reliability import warehouse_replay

        def per_record(con: Any, entity: str, ks: list[str] | None) -> Progress:
            rows = lake_changes(settings, entity, since, until, ks, con=con)
            return _apply(sink, records_from_lake(settings, entity, rows), len(rows), f"replay {entity} -> {to}", quiet)

        applied, failed, seconds = warehouse_replay.replay(settings, entities, since, until, keys, per_record)
        return Progress(applied, failed, seconds)
    total = Progress()
    t0 = time.monotonic()
    for entity in entities:
        rows = lake_changes(settings, entity, since, until, keys)
        p = _apply(sink, records_from_lake(settings, entity, rows), len(rows), f"replay {entity} -> {to}", quiet)
        total.applied += p.applied
        total.failed += p.failed
    total.seconds = time.monotonic() - t0
    return total


# --- redrive --------------------------------------------------------------------------------------
@dataclass
class RedriveResult:
    redriven: int = 0
    still_failed: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)


def _failure_objects(s3: Any, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            if not o["Key"].startswith("redriven/"):
                yield o["Key"]


def _records_of(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """(read model, Kinesis records) of one on-failure object, written by a projector or the runner."""
    if "destination" in body:  # a projector's own report: one record, raw as delivered
        store = STORE_OF_FUNCTION.get(body["destination"])
        return store, [body["record"]] if isinstance(body.get("record"), dict) else []
    ctx = body.get("requestContext") or {}
    fn = str(ctx.get("functionArn", "")).rsplit(":", 1)[-1]
    payload = body.get("payload")
    records = orjson.loads(payload)["Records"] if isinstance(payload, str) else []
    return STORE_OF_FUNCTION.get(fn), records


def redrive(settings: Settings, include_quarantine: bool = True) -> RedriveResult:
    """Re-apply what the on-failure destinations hold (the failures bucket: projector reports and the
    runner's invocation records) and the lake quarantine, after a fix. A record applied cleanly has its
    object moved under `redriven/`; what fails again stays where it is and is reported."""
    s3 = settings.boto3_client("s3")
    out = RedriveResult()
    sinks: dict[str, Any] = {}
    for key in list(_failure_objects(s3, settings.failures_bucket)):
        body = json.loads(s3.get_object(Bucket=settings.failures_bucket, Key=key)["Body"].read())
        store, records = _records_of(body)
        good = [r for r in records if isinstance(r, dict) and "kinesis" in r]
        if store is None or not good:
            out.unreadable.append({"object": key, "reason": body.get("reason") or "no replayable record"})
            continue
        sink = sinks.setdefault(store, make_sink(settings, store))
        failed = sink({"Records": good})
        if failed:
            out.still_failed.append({"object": key, "store": store, "records": failed,
                                     "reason": body.get("reason") or (body.get("responseContext") or {}).get("errorMessage")})
            continue
        s3.copy_object(Bucket=settings.failures_bucket, Key=f"redriven/{key}",
                       CopySource={"Bucket": settings.failures_bucket, "Key": key})
        s3.delete_object(Bucket=settings.failures_bucket, Key=key)
        out.redriven += len(good)
    if include_quarantine:
        _redrive_quarantine(settings, s3, out)
    return out


def _redrive_quarantine(settings: Settings, s3: Any, out: RedriveResult) -> None:
    import pyarrow.parquet as pq

    sink = make_sink(settings, "lake")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix="quarantine/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    for key in keys:
        rows = pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.lake_bucket, Key=key)["Body"].read())).to_pylist()
        failed_rows = []
        for row in rows:
            entity = row["entity"]
            if entity not in TABLE_OF_ENTITY or not row.get("payload") or row.get("version") is None:
                failed_rows.append({"reason": row["reason"], "item_key": row.get("item_key")})
                continue
            table = TABLE_OF_ENTITY[entity]
            img = _typed_payload(entity, orjson.loads(row["payload"]))
            if row["op"] == "REMOVE":
                img["Version"] = Decimal(int(row["version"]) - 1)
                rec = synth.tombstone(table, img, settings.region, settings.table(table))
            else:
                img["Version"] = Decimal(int(row["version"]))
                rec = synth.upsert(table, img, settings.region, settings.table(table))
            if sink({"Records": [rec]}):
                failed_rows.append({"reason": row["reason"], "item_key": row.get("item_key")})
            else:
                out.redriven += 1
        if failed_rows:
            out.still_failed.append({"object": f"s3://{settings.lake_bucket}/{key}", "store": "lake",
                                     "rows": failed_rows})
        else:
            s3.copy_object(Bucket=settings.lake_bucket, Key=f"redriven/{key}",
                           CopySource={"Bucket": settings.lake_bucket, "Key": key})
            s3.delete_object(Bucket=settings.lake_bucket, Key=key)


def _typed_payload(entity: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The quarantined image (JSON, decimals as text) with the entity's numeric attributes made
    Decimal again where they parse; a value that still does not fit stays as it was (and fails)."""
    kinds = {c.attr: c.kind for c in ENTITIES[entity].columns}
    out: dict[str, Any] = {}
    for k, v in payload.items():
        if kinds.get(k) in ("decimal", "bigint") or k == "Version":
            try:
                v = Decimal(str(v))
            except ArithmeticError:
                pass
        out[k] = _nested_decimals(v)
    return out


# --- backfill ---------------------------------------------------------------------------------------
def backfill(settings: Settings, stores: tuple[str, ...] = ("search", "lake", "warehouse"), segments: int = 4,
             quiet: bool = False) -> dict[str, Progress]:
    """Bring tables that already hold data into every read model.

    Cutover, with no gap and no double: the tables' streams are consumed (the runner's mappings,
    from a position taken BEFORE the scan starts: TRIM_HORIZON, or a checkpoint) while this parallel
    scan reads every item. Every change committed after the scan started is in the stream; every
    change before it is in the item the scan reads (or in the stream too, if it is still retained).
    Both paths carry `Version`, and every projector keeps the highest version per key, so:
      * a key the scan read at v5 while the stream later delivers v6: v6 wins, whatever the order;
      * the stream delivered v6 before the scan's (older) read of v5 arrives: v5 is ignored;
      * a key deleted after the scan read it: the stream's tombstone (v+1) wins over the scanned v.
    The same version arriving by both paths is one state: an idempotent no-op (no double).
    The scan itself is deduplicated by key, keeping the highest version (a parallel scan never
    returns a key twice, but a re-run after an interruption may overlap).
    """
    from reliability.stores import scan_table

    ddb = settings.boto3_client("dynamodb")
    best: dict[tuple[str, str], dict[str, Any]] = {}
    from ingestion.change_event import key_string

    for t in TABLES:
        for item in scan_table(ddb, settings.table(t.name), segments):
            k = (t.name, key_string(t.name, {n: item[n] for n in t.key_names}))
            cur = best.get(k)
            if cur is None or int(item.get("Version", 0)) > int(cur.get("Version", 0)):
                best[k] = item
    out: dict[str, Progress] = {}
    for store in stores:
        sink = make_sink(settings, store)
        recs = (synth.upsert(t, item, settings.region, settings.table(t)) for (t, _), item in best.items())
        out[store] = _apply(sink, recs, len(best), f"backfill -> {store}", quiet)
    return out
