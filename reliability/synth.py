"""Synthesized change records, for re-projecting keys outside the stream (repair, replay, redrive,
backfill). Each becomes the exact Kinesis Lambda record the projectors already read (a Kinesis Data
Streams for DynamoDB record, base64 JSON), so the one handler code path applies them, with the same
version guards: a synthesized change never overrides a higher version.

Sequence numbers are 57 digits, `9` then a monotonic clock: longer than any Kinesis sequence number
(56 digits), so where the lake's views break a version tie by sequence number, the re-projected row
(which is the command side's current state) wins.
"""
from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cqrs.resources import TABLES_BY_NAME
from ingestion.change_event import encode_image, key_string, to_kinesis_data

_counter = itertools.count()
_lock = threading.Lock()


def next_seq() -> str:
    with _lock:
        n = next(_counter)
    return f"9{time.time_ns():030d}{n % 10**26:026d}"


def _keys(table: str, image: Mapping[str, Any]) -> dict[str, Any]:
    return {k: image[k] for k in TABLES_BY_NAME[table].key_names}


def stream_record(table: str, op: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None,
                  when: datetime | None = None) -> dict[str, Any]:
    """A DynamoDB Streams GetRecords-shaped record (images in DynamoDB JSON)."""
    img = new if new is not None else old
    assert img is not None
    ddb: dict[str, Any] = {"Keys": encode_image(_keys(table, img)),
                           "ApproximateCreationDateTime": when or datetime.now(UTC),
                           "StreamViewType": "NEW_AND_OLD_IMAGES", "SizeBytes": 0}
    if new is not None:
        ddb["NewImage"] = encode_image(new)
    if old is not None:
        ddb["OldImage"] = encode_image(old)
    return {"eventID": f"synth-{next_seq()}", "eventName": op, "eventSource": "aws:dynamodb", "dynamodb": ddb}


def kinesis_record(table: str, op: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None,
                   region: str, table_name: str | None = None, seq: str | None = None,
                   origin: str = "repair") -> dict[str, Any]:
    rec = stream_record(table, op, new, old)
    data = to_kinesis_data(rec, table_name or table, region)
    seq = seq or next_seq()
    img = new if new is not None else old
    assert img is not None
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": key_string(table, _keys(table, img)),
                    "sequenceNumber": seq, "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": time.time()},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{origin}:{seq}",
        "eventName": "aws:kinesis:record", "awsRegion": region,
        "eventSourceARN": f"arn:aws:kinesis:{region}:000000000000:stream/{origin}",
    }


def upsert(table: str, item: Mapping[str, Any], region: str, table_name: str | None = None) -> dict[str, Any]:
    """The current item as a MODIFY (projectors treat INSERT and MODIFY alike: full state)."""
    return kinesis_record(table, "MODIFY", item, None, region, table_name)


def tombstone(table: str, last: Mapping[str, Any], region: str, table_name: str | None = None) -> dict[str, Any]:
    """A REMOVE of `last` (its Version is the removed one: the change's version is Version + 1)."""
    return kinesis_record(table, "REMOVE", None, last, region, table_name)


def events(records: Iterable[dict[str, Any]], size: int = 500) -> Iterable[dict[str, Any]]:
    batch: list[dict[str, Any]] = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield {"Records": batch}
            batch = []
    if batch:
        yield {"Records": batch}


def decimal_version(v: Any) -> Decimal:
    return Decimal(int(v))
