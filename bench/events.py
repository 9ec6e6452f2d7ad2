"""AWS-shaped Kinesis Lambda events of realistic Orders / Transactions changes, for the benchmarks.

Deterministic for a seed. The Kinesis record data is what Kinesis Data Streams for DynamoDB writes
(base64 JSON, DynamoDB JSON images); money has exactly two decimals, some with 20+ digits so a
float anywhere on the path would show. Built with `change_event.encode_image` like tests/factories.py.
"""
from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from cqrs.resources import TABLES_BY_NAME
from ingestion.change_event import encode_image, key_string

REGION = "us-east-1"
ACCOUNT = "123456789012"
MERCHANTS = ("ACME Grocery", "Blue Bottle", "City Fuel", "Delta Air", "Eagle Books", "Fresh Mart",
             "Globex Online", "Harbor Cafe", "Initech Store", "Jolly Toys")
COUNTRIES = ("US", "US", "US", "US", "CA", "GB", "FR", "DE", "MX", "JP")
BASE_TIME = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _money(rng: random.Random, huge: bool = True) -> Decimal:
    if huge and rng.random() < 0.01:  # a few huge exact amounts: 24 significant digits, lost by any float
        return Decimal(f"{rng.randrange(10**21, 10**22)}.{rng.randrange(100):02d}")
    return Decimal(f"{rng.randrange(1, 2000)}.{rng.randrange(100):02d}")


def transaction_image(i: int, rng: random.Random, huge: bool = True) -> dict[str, Any]:
    t = BASE_TIME + timedelta(milliseconds=37 * i)
    img: dict[str, Any] = {"TransactionId": f"txn-{i:09d}", "CustomerId": f"cust-{rng.randrange(5000):05d}",
                           "Merchant": rng.choice(MERCHANTS), "Amount": _money(rng, huge), "Currency": "USD",
                           "Country": rng.choice(COUNTRIES), "PostedAt": _iso(t), "Version": Decimal(1)}
    if rng.random() < 0.3:
        img["PaymentId"] = f"pay-{i:09d}"
    return img


def order_image(i: int, rng: random.Random, status: str = "PENDING", version: int = 1,
                huge: bool = True) -> dict[str, Any]:
    t = BASE_TIME + timedelta(milliseconds=37 * i)
    lines, total = [], Decimal(0)
    for n in range(rng.randrange(1, 5)):
        qty, price = Decimal(rng.randrange(1, 6)), _money(rng, huge)
        lines.append({"Sku": f"SKU-{rng.randrange(500):04d}", "Qty": qty, "UnitPrice": price, "LineAmount": qty * price})
        total += qty * price
    img: dict[str, Any] = {"OrderId": f"ord-{i:09d}", "CustomerId": f"cust-{rng.randrange(5000):05d}",
                           "CartId": f"cart-{i:09d}", "Status": status, "Lines": lines, "TotalAmount": total,
                           "Currency": "USD", "SagaMode": "choreography", "CreatedAt": _iso(t),
                           "UpdatedAt": _iso(t + timedelta(seconds=version - 1)), "Version": Decimal(version)}
    if status == "CANCELLED":
        img["CancelReason"] = "OUT_OF_STOCK"
    return img


def change(table: str, op: str, new: dict[str, Any] | None, old: dict[str, Any] | None, seq: int,
           created: datetime, shard: str = "shardId-000000000000") -> dict[str, Any]:
    """One Kinesis Lambda event record carrying a Kinesis Data Streams for DynamoDB change."""
    image = new if new is not None else old
    assert image is not None
    keys = {k: image[k] for k in TABLES_BY_NAME[table].key_names}
    ddb: dict[str, Any] = {"ApproximateCreationDateTime": int(created.timestamp() * 1000),
                           "ApproximateCreationDateTimePrecision": "MILLISECOND",
                           "Keys": encode_image(keys), "SizeBytes": 200}
    if new is not None:
        ddb["NewImage"] = encode_image(new)
    if old is not None:
        ddb["OldImage"] = encode_image(old)
    data = {"awsRegion": REGION, "eventID": f"{seq:032x}", "eventName": op, "userIdentity": None,
            "recordFormat": "application/json", "tableName": table, "dynamodb": ddb, "eventSource": "aws:dynamodb"}
    sq = str(49600000000000000000000000000000000000000000000000000000 + seq)
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": key_string(table, keys), "sequenceNumber": sq,
                    "data": base64.b64encode(orjson.dumps(data)).decode(),
                    "approximateArrivalTimestamp": created.timestamp()},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{shard}:{sq}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/projector",
        "awsRegion": REGION, "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/changes",
    }


def kinesis_event(n: int, seed: int = 7, huge: bool = True) -> dict[str, Any]:
    """n records: ~60% Transactions INSERTs, ~25% Orders INSERTs, ~15% Orders MODIFYs (old + new image).
    `huge`: 1% of amounts have 22 integer digits (fits the lake's decimal(38,2), not the warehouse's
    narrower money type: the warehouse load benchmark turns them off)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        created = BASE_TIME + timedelta(milliseconds=37 * i)
        r = rng.random()
        if r < 0.60:
            records.append(change("Transactions", "INSERT", transaction_image(i, rng, huge), None, i, created))
        elif r < 0.85:
            records.append(change("Orders", "INSERT", order_image(i, rng, huge=huge), None, i, created))
        else:
            old = order_image(i, rng, huge=huge)
            new = dict(old, Status=rng.choice(("CONFIRMED", "CANCELLED")), Version=Decimal(2),
                       UpdatedAt=_iso(created + timedelta(seconds=2)))
            if new["Status"] == "CANCELLED":
                new["CancelReason"] = "PAYMENT_DECLINED"
            records.append(change("Orders", "MODIFY", new, old, i, created))
    return as_delivered({"Records": records})


def as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as the Lambda runtime hands it to a handler: parsed from its JSON text (awslambdaric's
    LambdaMarshaller.unmarshal_request: simplejson.loads), so each record's objects lie together in
    memory. Built directly in Python, its strings lay scattered among the generator's temporaries, and
    reading every record's payload cost the compiled envelope step ~6 ms per 10k where the parsed
    event costs ~3.3 (BENCHMARKS.md); the naive references are unaffected."""
    return json.loads(orjson.dumps(event))  # type: ignore[no-any-return]


def event_of_size(target_bytes: int, seed: int = 7) -> dict[str, Any]:
    """About `target_bytes` of Lambda event JSON (6 MB is Lambda's synchronous payload limit)."""
    probe = kinesis_event(200, seed)
    per = len(orjson.dumps(probe)) / 200
    return kinesis_event(max(1, int(target_bytes / per)), seed)
