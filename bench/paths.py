"""Each projector's pure path, from a parsed Lambda event to the bytes its store receives, written
twice: OURS (the production modules) and a NAIVE reference written the way common tutorials do it.

  lake       ours: handler.build (columnar.parse + fast.build: ingestion.ndjson, columnar, + quality.evaluate)
                   -> store.parquet_bytes; ours_per_event: decode_lambda_event -> columns.build
             naive: TypeDeserializer per record -> list of dicts -> pandas DataFrame -> Parquet
                    (awswrangler's path: pyarrow.Table.from_pandas + pq.write_table)
  search     ours: what the handler runs for these batches: search/columnar.prepare (parsed by ingestion.ndjson,
                   deduplicated by Arrow, each bulk line assembled by Arrow) -> writer.bulk_body, serialized
                   as client.bulk serializes it with our client's serializer (OrjsonSerializer, a line per item)
             ours_per_event: decode -> to_index_action -> highest version per id -> the same serialization
             naive: TypeDeserializer -> helpers.bulk-style action dicts ({_index,_id,_source}) ->
                    helpers.expand_action + the default JSON serializer
  warehouse  ours: what the handler runs for these batches: warehouse/columnar.stage (parsed, deduplicated
                   and cast by Arrow) -> CSV for COPY ... FORMAT csv
             ours_per_event: decode -> rows.build_batch -> COPY text (psycopg's own text formatter), what
                   batches the columnar path does not take run
             naive: TypeDeserializer -> a dict per row -> COPY text built by str() per value

Every function returns (records in, bytes out, output) so the harness can check exactness.
No I/O.
"""
from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
Output = tuple[int, int, Any]


# --- ours -------------------------------------------------------------------------------------
def lake_ours(event: Mapping[str, Any]) -> Output:
    """The production path (handler.build: the columnar fast path for these batches)."""
    from projections.lake.handler import build
    from projections.lake.store import parquet_bytes

    built, failures, _ = build(event, "", NOW, lambda entity: ())  # every table already in the catalog
    files = {f"{n}/{dt}": parquet_bytes(t) for n, eb in built.batches.items() for dt, t in eb.parts.items()}
    assert not built.quarantined and not failures, (built.quarantined[:1], failures[:1])
    return len(event["Records"]), sum(map(len, files.values())), files


def lake_per_event(event: Mapping[str, Any]) -> Output:
    """Ours without the fast path: decode_lambda_event + columns.build (what odd batches take)."""
    from ingestion.change_event import decode_lambda_event
    from projections.lake import columns, quality
    from projections.lake.store import parquet_bytes

    batch = decode_lambda_event(event)
    built = columns.build(batch.events, NOW, {}, quality.evaluate)
    files = {f"{n}/{dt}": parquet_bytes(t) for n, eb in built.batches.items() for dt, t in eb.parts.items()}
    assert not built.quarantined and not batch.failures, (built.quarantined[:1], batch.failures[:1])
    return len(event["Records"]), sum(map(len, files.values())), files


def best_actions(event: Mapping[str, Any], prefix: str = "") -> list[Any]:
    """The search projector's pure path: decode, build, keep each document's highest version."""
    from ingestion.change_event import decode_lambda_event
    from projections.search.documents import to_index_action

    batch = decode_lambda_event(event)
    best: dict[tuple[str, str], Any] = {}
    for ev in batch.events:
        a = to_index_action(ev, prefix)
        if a is not None:
            cur = best.get(a.key)
            if cur is None or a.version > cur.version:
                best[a.key] = a
    return list(best.values())


def _bulk_bytes(actions: list[Any]) -> bytes:
    from opensearchpy.client.utils import _bulk_body as _client_body

    from projections.search.serializer import OrjsonSerializer
    from projections.search.writer import bulk_body

    # what client.bulk sends: opensearch-py's own body step with our client's serializer (client.make_client)
    return str(_client_body(OrjsonSerializer(), bulk_body(actions))).encode()


def search_ours(event: Mapping[str, Any]) -> Output:
    """What the handler runs for these batches: search/columnar.prepare (Arrow-built NDJSON lines)."""
    from projections.search.columnar import prepare

    prepared = prepare(event)
    assert prepared is not None, "the bench batch must take the columnar path"
    data = _bulk_bytes(prepared.actions)
    return len(event["Records"]), len(data), data


def search_per_event(event: Mapping[str, Any]) -> Output:
    """Ours without the columnar path: decode -> to_index_action -> highest version per id (odd batches)."""
    data = _bulk_bytes(best_actions(event))
    return len(event["Records"]), len(data), data


def warehouse_per_event(event: Mapping[str, Any]) -> Output:
    from psycopg._copy_base import TextFormatter
    from psycopg.adapt import Transformer

    from ingestion.change_event import decode_lambda_event
    from projections.warehouse.rows import build_batch

    batch = build_batch(decode_lambda_event(event).events)
    assert not batch.failures, batch.failures[:1]
    out: dict[str, bytes] = {}
    for table, rows in batch.rows.items():  # what PostgresWarehouse._stage's COPY sends
        f = TextFormatter(Transformer())
        buf = bytearray()
        for r in rows:
            buf += f.write_row(r)
        buf += f.end()
        out[table] = bytes(buf)
    return len(event["Records"]), sum(map(len, out.values())), out


def warehouse_ours(event: Mapping[str, Any]) -> Output:
    """The handler's path for these batches: warehouse/columnar.py, parsed and deduplicated by Arrow,
    COPY input as CSV written by Arrow."""
    from projections.warehouse.columnar import stage

    staged = stage(event)
    assert staged is not None, "the bench batch must take the columnar path"
    out = staged.csv()
    return len(event["Records"]), sum(map(len, out.values())), out


# --- naive references ---------------------------------------------------------------------------
def _naive_changes(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tutorial decode: base64 + json.loads + boto3's TypeDeserializer on every image."""
    from boto3.dynamodb.types import TypeDeserializer

    out = []
    for rec in event["Records"]:
        payload = json.loads(base64.b64decode(rec["kinesis"]["data"]))
        deser = TypeDeserializer()
        ddb = payload["dynamodb"]
        new = {k: deser.deserialize(v) for k, v in ddb.get("NewImage", {}).items()} if "NewImage" in ddb else None
        old = {k: deser.deserialize(v) for k, v in ddb.get("OldImage", {}).items()} if "OldImage" in ddb else None
        out.append({"table": payload["tableName"], "op": payload["eventName"], "new": new, "old": old,
                    "seq": rec["kinesis"]["sequenceNumber"],
                    "ts": ddb["ApproximateCreationDateTime"]})
    return out


def _naive_changes_powertools(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Powertools' data classes: KinesisStreamEvent for the envelope, DynamoDBStreamEvent for the change."""
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, KinesisStreamEvent

    out = []
    for rec in KinesisStreamEvent(dict(event)).records:
        payload = rec.kinesis.data_as_json()
        (d,) = DynamoDBStreamEvent({"Records": [payload]}).records
        assert d.dynamodb is not None  # every change record carries its dynamodb part
        out.append({"table": payload["tableName"], "op": d.event_name.name if d.event_name else None,
                    "new": d.dynamodb.new_image or None, "old": d.dynamodb.old_image or None,
                    "seq": rec.kinesis.sequence_number, "ts": payload["dynamodb"]["ApproximateCreationDateTime"]})
    return out


_SNAKE = {"TransactionId": "transaction_id", "CustomerId": "customer_id", "PaymentId": "payment_id",
          "Merchant": "merchant", "Amount": "amount", "Currency": "currency", "Country": "country",
          "PostedAt": "posted_at", "OrderId": "order_id", "CartId": "cart_id", "Status": "status",
          "TotalAmount": "total_amount", "CancelReason": "cancel_reason", "SagaMode": "saga_mode",
          "CreatedAt": "created_at", "UpdatedAt": "updated_at", "Lines": "lines", "Version": "version"}
_ENTITY = {"Transactions": "transaction", "Orders": "order"}


def _lake_naive(changes: list[dict[str, Any]]) -> Output:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    groups: dict[str, list[dict[str, Any]]] = {}
    for c in changes:
        img = c["new"] if c["new"] is not None else c["old"]
        row = {_SNAKE.get(k, k): v for k, v in img.items()}
        if "lines" in row:
            row["lines"] = json.dumps(row["lines"], default=str)
        row.update(op=c["op"], event_time=pd.Timestamp(int(c["ts"]), unit="ms", tz="UTC"), sequence_number=c["seq"],
                   is_ttl_expiry=False, ingested_at=NOW)
        groups.setdefault(_ENTITY[c["table"]], []).append(row)
    files = {}
    for name, rows in groups.items():
        df = pd.DataFrame(rows)
        for col in ("posted_at", "created_at", "updated_at"):
            if col in df:
                df[col] = pd.to_datetime(df[col], utc=True)
        df["version"] = df["version"].astype("int64")
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)  # awswrangler's to_parquet path
        files[name] = buf.getvalue()
    return len(changes), sum(map(len, files.values())), files


def lake_naive(event: Mapping[str, Any]) -> Output:
    return _lake_naive(_naive_changes(event))


def lake_naive_powertools(event: Mapping[str, Any]) -> Output:
    return _lake_naive(_naive_changes_powertools(event))


def search_naive(event: Mapping[str, Any]) -> Output:
    from opensearchpy.helpers import expand_action
    from opensearchpy.serializer import JSONSerializer

    ser = JSONSerializer()
    lines = []
    for c in _naive_changes(event):
        img = c["new"] if c["new"] is not None else c["old"]
        doc = {_SNAKE.get(k, k): (str(v) if isinstance(v, Decimal) else v) for k, v in img.items()}
        order_lines = doc.get("lines")
        if isinstance(order_lines, list):
            doc["lines"] = [{_SNAKE.get(k, k.lower()): str(v) if isinstance(v, Decimal) else v for k, v in ln.items()}
                            for ln in order_lines]
        key = doc.get("transaction_id") or doc.get("order_id")
        action = {"_index": _ENTITY[c["table"]] + "s", "_id": key, "_version": int(img["Version"]),
                  "_version_type": "external", "_source": doc}
        meta, source = expand_action(action)
        lines.append(ser.dumps(meta))
        lines.append(ser.dumps(source))
    data = ("\n".join(lines) + "\n").encode()
    return len(event["Records"]), len(data), data


def _copy_text(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


_WH_COLS = {"transaction": ("transaction_id", "customer_id", "payment_id", "merchant", "amount", "currency",
                            "country", "posted_at", "version", "is_deleted"),
            "order": ("order_id", "customer_id", "cart_id", "status", "total_amount", "currency", "cancel_reason",
                      "saga_mode", "created_at", "updated_at", "version", "is_deleted")}


def warehouse_naive(event: Mapping[str, Any]) -> Output:
    out: dict[str, list[str]] = {}
    for c in _naive_changes(event):
        img = c["new"] if c["new"] is not None else c["old"]
        ent = _ENTITY[c["table"]]
        row = {_SNAKE.get(k, k): v for k, v in img.items()}
        row["is_deleted"] = c["op"] == "REMOVE"
        for col in ("posted_at", "created_at", "updated_at"):
            if col in row:
                row[col] = datetime.fromisoformat(row[col]).replace(tzinfo=None)
        out.setdefault(ent, []).append("\t".join(_copy_text(row.get(k)) for k in _WH_COLS[ent]))
        if ent == "order":
            for n, ln in enumerate(img["Lines"], 1):
                r = {"order_id": row["order_id"], "line_no": n, "sku": ln["Sku"], "qty": ln["Qty"],
                     "unit_price": ln["UnitPrice"], "line_amount": ln["LineAmount"], "created_at": row["created_at"],
                     "version": row["version"], "is_deleted": row["is_deleted"]}
                out.setdefault("order_line", []).append("\t".join(_copy_text(v) for v in r.values()))
    data = {k: ("\n".join(v) + "\n").encode() for k, v in out.items()}
    return len(event["Records"]), sum(map(len, data.values())), data


PATHS: dict[str, dict[str, Callable[[Mapping[str, Any]], Output]]] = {
    "lake": {"ours": lake_ours, "ours_per_event": lake_per_event, "naive": lake_naive,
             "naive_powertools": lake_naive_powertools},
    "search": {"ours": search_ours, "ours_per_event": search_per_event, "naive": search_naive},
    "warehouse": {"ours": warehouse_ours, "ours_per_event": warehouse_per_event, "naive": warehouse_naive},
}
