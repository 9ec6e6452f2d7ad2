"""Prototype, not production: the lake's Transactions change log built without per-record Python dicts.

The Kinesis payloads are base64-decoded, joined as NDJSON and parsed by pyarrow.json under an explicit
schema; DynamoDB numbers stay strings until Arrow casts them to decimal128(38,2) (exact: the 22-digit
amounts survive, checked below against the ChangeEvent decoding). Run:
`.venv/bin/python -m bench.prototypes.arrow_json_lake`. Measured 50-64k records/s per core on the
loaded 2-core box, 2-3x the ChangeEvent path (BENCHMARKS.md). Missing before it could replace
columns.build: other entities, order lines, quarantine of rows Arrow refuses, schema evolution.
"""
from __future__ import annotations

import binascii
import io
import time
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

UTC_US = pa.timestamp("us", tz="UTC")


def _s() -> pa.DataType:
    return pa.struct([("S", pa.string())])


def _n() -> pa.DataType:
    return pa.struct([("N", pa.string())])


IMAGE = pa.struct([("TransactionId", _s()), ("CustomerId", _s()), ("PaymentId", _s()), ("Merchant", _s()),
                   ("Amount", _n()), ("Currency", _s()), ("Country", _s()), ("PostedAt", _s()), ("Version", _n())])
SCHEMA = pa.schema([("tableName", pa.string()), ("eventName", pa.string()),
                    ("dynamodb", pa.struct([("ApproximateCreationDateTime", pa.int64()), ("NewImage", IMAGE)]))])


def transactions_parquet(event: Mapping[str, Any]) -> tuple[int, bytes]:
    recs = event["Records"]
    a2b = binascii.a2b_base64
    data = b"\n".join([a2b(r["kinesis"]["data"]) for r in recs])
    seqs = pa.array([r["kinesis"]["sequenceNumber"] for r in recs])
    t = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(
        explicit_schema=SCHEMA, unexpected_field_behavior="ignore"))
    mask = pc.equal(t.column("tableName"), "Transactions")
    t, seqs = t.filter(mask), seqs.filter(mask)
    ddb = t.column("dynamodb").combine_chunks()
    new = ddb.field("NewImage")
    cols: dict[str, Any] = {
        "op": t.column("eventName"), "version": pc.cast(new.field("Version").field("N"), pa.int64()),
        "event_time": pc.cast(ddb.field("ApproximateCreationDateTime"), pa.timestamp("ms", tz="UTC")).cast(UTC_US),
        "sequence_number": seqs}
    for name, attr in (("transaction_id", "TransactionId"), ("customer_id", "CustomerId"),
                       ("payment_id", "PaymentId"), ("merchant", "Merchant"), ("currency", "Currency"),
                       ("country", "Country")):
        cols[name] = new.field(attr).field("S")
    cols["amount"] = pc.cast(new.field("Amount").field("N"), pa.decimal128(38, 2))
    cols["posted_at"] = new.field("PostedAt").field("S").cast(UTC_US)
    table = pa.table(cols)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return table.num_rows, buf.getvalue()


def main() -> None:
    from bench import exact
    from bench.events import kinesis_event

    event = kinesis_event(10_000)
    for _ in range(3):
        c = time.process_time()
        n, data = transactions_parquet(event)
        print(f"{n} transaction rows from {len(event['Records'])} records: "
              f"{len(event['Records']) / (time.process_time() - c):,.0f} records/s per core")
    exact.check("lake", "arrow_json_prototype", {"transaction/proto": data}, exact.expected_amounts(event))
    print("amounts exact (sample incl. 22-digit values)")


if __name__ == "__main__":
    main()
