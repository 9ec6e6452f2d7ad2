"""Lake projector (Lambda on the Kinesis `changes` stream): changes -> Parquet change log + Glue.

Parse + build (pure: `build`; the columnar `fast` path, or decode_lambda_event + columns.build for
shapes it does not take; quality.evaluate on both) -> write (store).
Undecodable records and rows failing the data-quality suite go to the quarantine prefix with their
reason; they never block the shard. A transient S3/Glue error is retried with backoff while the
invocation has time (projections.retry); one that persists, or any other error, fails the whole
batch (its first record), so Lambda retries it; a retry writes the same object keys (shard +
sequence range), no duplicates.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from cqrs.warm import reused
from ingestion import columnar
from ingestion.change_event import DecodeFailure, decode_lambda_event
from projections import retry
from projections.lake import columns, fast, quality
from projections.lake.schema import ENTITIES, Column
from projections.lake.store import QUARANTINE_SCHEMA, LakeStore

log = logging.getLogger(__name__)
_STORES: dict[tuple[Any, ...], LakeStore] = {}


def _store(settings: Any) -> LakeStore:
    k = (settings.aws_endpoint_url, settings.region, settings.lake_bucket, settings.glue_database)
    return reused(_STORES, k, lambda: LakeStore(settings.boto3_client("s3"), settings.boto3_client("glue"),
                                                settings.lake_bucket, settings.glue_database))


def _seq_key(s: str) -> tuple[int, str]:
    return (len(s), s)  # sequence numbers are decimal strings of varying length


def batch_name(event: Mapping[str, Any]) -> str:
    """`<shard>-<firstseq>-<lastseq>`: the same for a retried batch, different for any other."""
    records = event.get("Records") or []
    shard, seqs = "stream", []
    for r in records:
        if not isinstance(r, Mapping):
            continue
        eid = str(r.get("eventID", ""))
        if ":" in eid and shard == "stream":
            shard = eid.split(":", 1)[0]
        s = (r.get("kinesis") or {}).get("sequenceNumber") or (r.get("dynamodb") or {}).get("SequenceNumber")
        if s:
            seqs.append(str(s))
    if not seqs:
        import hashlib
        return f"{shard}-{hashlib.sha256(orjson.dumps(records, default=str)).hexdigest()[:16]}"
    seqs.sort(key=_seq_key)
    return f"{shard}-{seqs[0]}-{seqs[-1]}"


def quarantine_table(rows: list[columns.Quarantined], failures: list[DecodeFailure], now: datetime) -> pa.Table:
    cols: dict[str, list[Any]] = {f.name: [] for f in QUARANTINE_SCHEMA}
    for q in rows:
        e = q.event
        for k, v in (("entity", q.entity), ("expectation", q.expectation), ("column_name", q.column),
                     ("reason", q.reason), ("item_key", e.key_string), ("op", e.operation), ("version", e.version),
                     ("sequence_number", e.sequence_number), ("event_time", e.approximate_creation_time),
                     ("payload", columns.to_json(e.image)), ("quarantined_at", now)):
            cols[k].append(v)
    for f in failures:
        for k, v in (("entity", "_undecodable"), ("expectation", "expect_record_to_decode"), ("column_name", ""),
                     ("reason", f.reason), ("item_key", None), ("op", None), ("version", None),
                     ("sequence_number", f.item_identifier), ("event_time", None),
                     ("payload", orjson.dumps(f.record, default=str).decode()), ("quarantined_at", now)):
            cols[k].append(v)
    return pa.Table.from_pydict(cols, schema=QUARANTINE_SCHEMA)


def build(event: Mapping[str, Any], prefix: str, now: datetime,
          known_extras: Callable[[str], tuple[columns.Column, ...] | None],
          ) -> tuple[columns.Built, list[DecodeFailure], dict[str, tuple[columns.Column, ...] | None]]:
    """The pure part: one event -> entity tables, undecodable records, and the catalog consulted
    (`known_extras(entity)`: its extra columns, None when its table does not exist yet).
    The columnar fast path when the batch has the shape it proves equal, else per event."""
    parsed = columnar.parse(event, prefix)
    if parsed is not None:
        entities = set(parsed.entity_names)
    else:
        batch = decode_lambda_event(event, prefix)
        entities = {e.entity for e in batch.events}
    entities |= {"order_line"} if "order" in entities else set()
    catalog = {n: known_extras(n) for n in sorted(entities) if n in ENTITIES}
    extras: dict[str, Sequence[Column]] = {n: x or () for n, x in catalog.items()}
    if parsed is not None:
        built, failures = fast.build(parsed, now, extras, quality.evaluate)
    else:
        built, failures = columns.build(batch.events, now, extras, quality.evaluate), batch.failures
    return built, failures, catalog


def project(event: Mapping[str, Any], store: LakeStore, prefix: str = "", now: datetime | None = None) -> dict[str, int]:
    """One batch -> S3 + Glue. Returns counts (rows written, quarantined)."""
    now = now or datetime.now(UTC)
    built, failures, catalog = build(event, prefix, now, store.known_extras)
    name = batch_name(event)
    written = 0
    for ent_name, eb in built.batches.items():
        if catalog.get(ent_name) is None or eb.new_columns:
            store.ensure_table(eb.entity, eb.columns, exists=catalog.get(ent_name) is not None)
        for dt, table in eb.parts.items():
            store.put(f"changes/{ent_name}/dt={dt}/{name}.parquet", table)
            written += table.num_rows
        store.add_partitions(eb.entity, eb.parts)
    if built.quarantined or failures:
        qt = quarantine_table(built.quarantined, failures, now)
        for ent in sorted(set(qt.column("entity").to_pylist())):
            part = qt.filter(pa.compute.equal(qt.column("entity"), ent))
            store.put(f"quarantine/{ent}/dt={now:%Y-%m-%d}/{name}.parquet", part)
        log.warning("lake: %d rows quarantined, %d records undecodable (batch %s)",
                    len(built.quarantined), len(failures), name)
    return {"written": written, "quarantined": len(built.quarantined) + len(failures)}


def handle(event: Mapping[str, Any], context: Any, settings: Any = None, store: LakeStore | None = None) -> dict[str, Any]:
    if settings is None:
        from cqrs.settings import Settings
        settings = Settings.from_env()
    store = store or _store(settings)
    try:  # S3/Glue down or throttling: waited out within the invocation (back-pressure, same object keys)
        retry.call(lambda: project(event, store, settings.table_prefix), retry.wait_budget(context, settings),
                   what="lake S3/Glue")
    except Exception:  # still failing, or not transient: the mapping retries the batch (same object keys)
        log.exception("lake: batch failed, Lambda will retry it (same object keys)")
        records = event.get("Records") or []
        first = records[0] if records and isinstance(records[0], Mapping) else {}
        ident = str((first.get("kinesis") or {}).get("sequenceNumber")
                    or (first.get("dynamodb") or {}).get("SequenceNumber") or "")
        return {"batchItemFailures": [{"itemIdentifier": ident}]}
    return {"batchItemFailures": []}
