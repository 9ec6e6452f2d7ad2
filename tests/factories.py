"""Build AWS-shaped events from plain images, for tests. The shapes follow AWS's documentation
(see tests/events/ for hand-written samples); `change_event.encode_image` does the DynamoDB JSON."""
from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from cqrs.resources import TABLES_BY_NAME
from ingestion.change_event import encode_image, key_string

ACCOUNT = "123456789012"
REGION = "us-east-1"
_seq = [10**20]


def next_seq() -> str:
    _seq[0] += 1
    return str(_seq[0])


def stream_record(table: str, op: str, new: dict | None = None, old: dict | None = None, *,
                  seq: str | None = None, ttl: bool = False, created: datetime | None = None) -> dict[str, Any]:
    """A DynamoDB Streams Lambda event record."""
    decl = TABLES_BY_NAME[table]
    image = new if new is not None else old
    assert image is not None
    keys = {k: image[k] for k in decl.key_names}
    created = created or datetime.now(UTC)
    ddb: dict[str, Any] = {
        "ApproximateCreationDateTime": int(created.timestamp()),
        "Keys": encode_image(keys),
        "SequenceNumber": seq or next_seq(),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        ddb["NewImage"] = encode_image(new)
    if old is not None:
        ddb["OldImage"] = encode_image(old)
    rec: dict[str, Any] = {
        "eventID": base64.b16encode(ddb["SequenceNumber"].encode()).decode()[:32].lower(),
        "eventName": op,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": ddb,
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/2026-11-27T00:00:00.000",
    }
    if ttl:
        rec["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return rec


def kinesis_record(table: str, op: str, new: dict | None = None, old: dict | None = None, *,
                   seq: str | None = None, ttl: bool = False, created: datetime | None = None,
                   shard: str = "shardId-000000000000") -> dict[str, Any]:
    """A Kinesis Lambda event record whose data is a Kinesis Data Streams for DynamoDB record."""
    s = stream_record(table, op, new, old, ttl=ttl, created=created)
    created = created or datetime.now(UTC)
    ddb = dict(s["dynamodb"])
    ddb.pop("SequenceNumber")
    ddb.pop("StreamViewType")
    ddb["ApproximateCreationDateTime"] = int(created.timestamp() * 1000)
    ddb["ApproximateCreationDateTimePrecision"] = "MILLISECOND"
    data = {
        "awsRegion": REGION, "eventID": s["eventID"], "eventName": op,
        "userIdentity": s.get("userIdentity"), "recordFormat": "application/json",
        "tableName": table, "dynamodb": ddb, "eventSource": "aws:dynamodb",
    }
    seq = seq or next_seq()
    image = new if new is not None else old
    assert image is not None
    pk = key_string(table, {k: image[k] for k in TABLES_BY_NAME[table].key_names})
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0", "partitionKey": pk, "sequenceNumber": seq,
            "data": base64.b64encode(orjson.dumps(data)).decode(),
            "approximateArrivalTimestamp": created.timestamp(),
        },
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{shard}:{seq}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/projector",
        "awsRegion": REGION, "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/changes",
    }


def kinesis_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def D(x: Any) -> Decimal:
    return Decimal(str(x))


# Plain Transactions / Orders items (the columnar and fast-path tests start from these and vary one thing).
TXN = {"TransactionId": "t1", "CustomerId": "c1", "Merchant": "ACME", "Amount": D("12.30"), "Currency": "USD",
       "Country": "US", "PostedAt": "2026-11-27T06:22:00.5Z", "Version": D(1)}
ORDER = {"OrderId": "o1", "CustomerId": "c1", "CartId": "k1", "Status": "PENDING", "TotalAmount": D("19.99"),
         "Lines": [{"Sku": "S-1", "Qty": D(2), "UnitPrice": D("9.99"), "LineAmount": D("19.98")},
                   {"Sku": "S-2", "Qty": D(1), "UnitPrice": D("0.01"), "LineAmount": D("0.01")}],
         "Currency": "USD", "SagaMode": "choreography", "CreatedAt": "2026-11-27T06:22:00.123456Z",
         "UpdatedAt": "2026-11-27T06:22:01.000000Z", "Version": D(1)}


def json_paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (dict keys and list indexes), the value itself first (`()`)."""
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += json_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += json_paths(v, (*path, i))
    return out
