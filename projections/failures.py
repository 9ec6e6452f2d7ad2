"""Where a projector's terminal failures go: one JSON report per record in the failures bucket,
keyed by the record's sequence number (a retried batch overwrites its own report instead of adding
a duplicate), with the full record, the decoded change and the reason. Shared by the projectors."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from ingestion.change_event import ChangeEvent

log = logging.getLogger(__name__)


def raw_records(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Kinesis records of a Lambda event by sequence number (what batchItemFailures names)."""
    out: dict[str, Any] = {}
    records = event.get("Records") if isinstance(event, Mapping) else None
    for rec in records if isinstance(records, list) else []:
        kin = rec.get("kinesis") if isinstance(rec, Mapping) else None
        seq = kin.get("sequenceNumber") if isinstance(kin, Mapping) else None
        if seq:
            out[str(seq)] = rec
    return out


def failure_key(prefix: str, ident: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{prefix}{now:%Y/%m/%d}/{ident or 'unidentified'}.json"


def send_to_failures(s3: Any, bucket: str, prefix: str, destination: str, ident: str, record: Any,
                     info: dict[str, Any]) -> None:
    ev: ChangeEvent | None = info.get("event")
    body = {
        "destination": destination, "itemIdentifier": ident, "reason": info["reason"],
        "status": info.get("status"), "retryable": False,
        "change": None if ev is None else {
            "table": ev.table, "entity": ev.entity, "key": ev.key, "operation": ev.operation,
            "version": ev.version, "newImage": ev.new_image, "oldImage": ev.old_image,
            "isTtlExpiry": ev.is_ttl_expiry},
        "document": info.get("document"),
        "record": record,
    }
    data = orjson.dumps(body, default=json_default, option=orjson.OPT_NON_STR_KEYS)
    try:
        s3.put_object(Bucket=bucket, Key=failure_key(prefix, ident), Body=data, ContentType="application/json")
    except Exception:  # the record is still in batchItemFailures, so it is not lost
        log.exception("could not write failure report for %s to s3://%s", ident, bucket)


def json_default(v: Any) -> Any:
    if isinstance(v, (set, frozenset)):
        return sorted(v, key=str)
    if isinstance(v, bytes):
        return v.hex()
    return str(v)  # Decimal: exact text
