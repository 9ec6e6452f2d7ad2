"""ChangeEvent: the one decoded, typed form of a command-side change. Pure: no I/O, no boto3.

Reads the three shapes a change arrives in:
  * a DynamoDB Streams Lambda event record        (`eventSource: aws:dynamodb`, `dynamodb.SequenceNumber`)
  * a Kinesis Lambda event record carrying a Kinesis Data Streams for DynamoDB record (base64 JSON,
    `ApproximateCreationDateTime` in milliseconds, no stream sequence number: Kinesis' is used)
  * a record of DynamoDB Streams `GetRecords` (as boto3 returns it; the table is passed in)

DynamoDB JSON is decoded exactly: numbers become `Decimal` (38 digits survive), sets become
Python sets, binary becomes bytes. A record that cannot be decoded becomes a `DecodeFailure` with
its reason and the raw record: never dropped.
"""
from __future__ import annotations

import base64
import binascii
import gc
from collections.abc import Iterable, Mapping  # not typing's: its isinstance costs ~5x more (profiled)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from cqrs.resources import TABLES_BY_NAME

OPERATIONS = ("INSERT", "MODIFY", "REMOVE")
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
_MAX_VERSION = 2**63 - 1  # every read model keeps versions as BIGINT; a removal's tombstone adds one


class DecodeError(ValueError):
    """The record is malformed: retrying cannot help (terminal)."""


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    table: str  # bare table name (prefix removed)
    entity: str
    key: dict[str, Any]
    operation: str  # INSERT | MODIFY | REMOVE
    version: int  # the aggregate's Version; for REMOVE, the removed Version + 1 (a tombstone)
    new_image: dict[str, Any] | None
    old_image: dict[str, Any] | None
    approximate_creation_time: datetime
    sequence_number: str
    event_id: str
    is_ttl_expiry: bool = False
    item_identifier: str = ""  # what Lambda's batchItemFailures names (the source's sequence number)

    @property
    def is_delete(self) -> bool:
        return self.operation == "REMOVE"

    @property
    def image(self) -> dict[str, Any]:
        """The state to project: the new image, or for a removal the last state before it."""
        return self.new_image if self.new_image is not None else (self.old_image or {})

    @property
    def key_string(self) -> str:
        return key_string(self.table, self.key)


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    item_identifier: str
    reason: str
    record: Any = field(repr=False)


@dataclass(slots=True)
class DecodedBatch:
    events: list[ChangeEvent] = field(default_factory=list)
    failures: list[DecodeFailure] = field(default_factory=list)


# --- DynamoDB JSON ---------------------------------------------------------------------------
def _num(s: str) -> Decimal:
    if not isinstance(s, (str, int)) or isinstance(s, bool):  # DynamoDB JSON writes numbers as strings
        raise DecodeError(f"not a DynamoDB number: {str(s)[:80]!r}")
    try:
        d = Decimal(s)
    except (InvalidOperation, ValueError):
        raise DecodeError(f"not a DynamoDB number: {str(s)[:80]!r}") from None
    if not d.is_finite():
        raise DecodeError(f"not a finite DynamoDB number: {s!r}")
    return d


def _bin(s: Any) -> bytes:
    if isinstance(s, (bytes, bytearray)):  # boto3 already decoded it
        return bytes(s)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise DecodeError("binary attribute is not valid base64") from None


def decode_value(av: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value -> Python, exactly."""
    if type(av) is dict and len(av) == 1:  # fast path for the common, well-formed cases (hot: bench/)
        ((tag, v),) = av.items()
        if tag == "S" and type(v) is str:
            return v
        if tag == "N" and type(v) is str:
            return _num(v)
        if tag == "M" and type(v) is dict:
            return {k: decode_value(x) for k, x in v.items()}
    if not isinstance(av, Mapping) or len(av) != 1:
        raise DecodeError(f"attribute value must be a one-key object, got {str(av)[:80]!r}")
    ((tag, v),) = av.items()
    if tag == "S":
        if not isinstance(v, str):
            raise DecodeError("S attribute is not a string")
        return v
    if tag == "N":
        return _num(v)
    if tag == "BOOL":
        if not isinstance(v, bool):
            raise DecodeError("BOOL attribute is not a boolean")
        return v
    if tag == "NULL":
        return None
    if tag == "M":
        return decode_image(v)
    if tag in ("L", "SS", "NS", "BS") and not isinstance(v, list):
        raise DecodeError(f"{tag} attribute is not a list")
    if tag == "L":
        return [decode_value(x) for x in v]
    if tag == "SS":
        if not all(isinstance(x, str) for x in v):
            raise DecodeError("SS attribute holds a value that is not a string")
        return set(v)
    if tag == "NS":
        return {_num(x) for x in v}
    if tag == "B":
        return _bin(v)
    if tag == "BS":
        return {_bin(x) for x in v}
    raise DecodeError(f"unknown DynamoDB type tag {tag!r}")


def decode_image(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if image is None:
        return None
    if type(image) is dict:  # fast path: strings and numbers inline, no call per attribute (hot: bench/)
        out: dict[str, Any] = {}
        for k, av in image.items():
            if type(av) is dict and len(av) == 1:
                v = av.get("S")
                if type(v) is str:
                    out[k] = v
                    continue
                v = av.get("N")
                if type(v) is str:
                    out[k] = _num(v)
                    continue
            out[k] = decode_value(av)
        return out
    if not isinstance(image, Mapping):
        raise DecodeError("image is not an object")
    return {k: decode_value(v) for k, v in image.items()}


def encode_value(v: Any) -> dict[str, Any]:
    """Python -> DynamoDB JSON (the inverse of decode_value), for writing AWS-shaped records."""
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, (int, Decimal)):
        return {"N": str(v)}
    if v is None:
        return {"NULL": True}
    if isinstance(v, (bytes, bytearray)):
        return {"B": base64.b64encode(v).decode()}
    if isinstance(v, Mapping):
        return {"M": {k: encode_value(x) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return {"L": [encode_value(x) for x in v]}
    if isinstance(v, (set, frozenset)):
        items = list(v)
        if all(isinstance(x, str) for x in items):
            return {"SS": sorted(items)}
        if all(isinstance(x, (int, Decimal)) and not isinstance(x, bool) for x in items):
            return {"NS": [str(x) for x in sorted(items)]}
        if all(isinstance(x, (bytes, bytearray)) for x in items):
            return {"BS": [base64.b64encode(x).decode() for x in sorted(items)]}
    if isinstance(v, float):
        raise TypeError("floats are not allowed: use Decimal (DynamoDB numbers are exact)")
    raise TypeError(f"cannot encode {type(v).__name__} as a DynamoDB attribute value")


def encode_image(image: Mapping[str, Any]) -> dict[str, Any]:
    return {k: encode_value(v) for k, v in image.items()}


def key_string(table: str, key: Mapping[str, Any]) -> str:
    """Stable text form of an item key; also the Kinesis partition key (table + item key)."""
    return table + "#" + "#".join(f"{k}={key[k]}" for k in sorted(key))


# --- records ---------------------------------------------------------------------------------
def _table_from_arn(arn: str) -> str:
    # arn:aws:dynamodb:region:account:table/NAME/stream/LABEL
    try:
        return arn.split(":", 5)[5].split("/")[1]
    except IndexError:
        raise DecodeError(f"cannot read the table from eventSourceARN {arn!r}") from None


def _timestamp(value: Any, millis: bool) -> datetime:
    try:
        if type(value) is int:  # the common case; int / int is correctly rounded, like the Decimal path below
            return datetime.fromtimestamp(value / (1000 if millis else 1), tz=UTC)
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            seconds = Decimal(str(value)) / (1000 if millis else 1)
            return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (ArithmeticError, ValueError, OSError):  # out of datetime's range (years 1-9999), inf, nan
        pass
    raise DecodeError(f"ApproximateCreationDateTime is not a timestamp: {str(value)[:80]!r}")


def _bare_table(table: str, prefix: str) -> str:
    return table[len(prefix):] if prefix and table.startswith(prefix) else table


def _build(table: str, prefix: str, rec: Mapping[str, Any], ddb: Mapping[str, Any], sequence_number: str,
           item_identifier: str, created: datetime) -> ChangeEvent:
    bare = _bare_table(table, prefix)
    decl = TABLES_BY_NAME.get(bare)
    if decl is None:
        raise DecodeError(f"change from unknown table {table!r}")
    op = rec.get("eventName")
    if op not in OPERATIONS:
        raise DecodeError(f"unknown eventName {op!r}")
    keys = decode_image(ddb.get("Keys"))
    if not keys:
        raise DecodeError("record has no Keys")
    new = decode_image(ddb.get("NewImage"))
    old = decode_image(ddb.get("OldImage"))
    if op != "REMOVE" and new is None:
        raise DecodeError(f"{op} without NewImage (stream view type must be NEW_AND_OLD_IMAGES)")
    source = new if new is not None else old
    if source is None or "Version" not in source:
        raise DecodeError(f"{op} of {key_string(bare, keys)} carries no Version")
    v = source["Version"]
    if not isinstance(v, Decimal) or v != v.to_integral_value() or not 0 <= v < _MAX_VERSION:
        raise DecodeError(f"Version must be a non-negative integer below 2^63 - 1, got {str(v)[:60]!r}")
    version = int(v) + (1 if op == "REMOVE" else 0)
    identity = rec.get("userIdentity") or {}
    ttl = op == "REMOVE" and isinstance(identity, Mapping) and identity.get("principalId") == TTL_PRINCIPAL
    return ChangeEvent(
        table=bare, entity=decl.entity_for(keys), key=keys, operation=op, version=version, new_image=new,
        old_image=old, approximate_creation_time=created, sequence_number=sequence_number,
        event_id=str(rec.get("eventID", "")), is_ttl_expiry=ttl, item_identifier=item_identifier,
    )


def from_dynamodb_stream_record(rec: Mapping[str, Any], table: str | None = None, prefix: str = "") -> ChangeEvent:
    """A DynamoDB Streams Lambda event record, or a GetRecords record (pass `table`)."""
    ddb = rec.get("dynamodb")
    if not isinstance(ddb, Mapping):
        raise DecodeError("record has no 'dynamodb' object")
    seq = str(ddb.get("SequenceNumber") or "")
    if not seq:
        raise DecodeError("record has no dynamodb.SequenceNumber")
    tbl = table or _table_from_arn(str(rec.get("eventSourceARN", "")))
    return _build(tbl, prefix, rec, ddb, seq, seq, _timestamp(ddb.get("ApproximateCreationDateTime"), False))


def from_kinesis_record(rec: Mapping[str, Any], prefix: str = "") -> ChangeEvent:
    """A Kinesis Lambda event record whose data is a Kinesis Data Streams for DynamoDB record."""
    kin = rec.get("kinesis")
    if not isinstance(kin, Mapping):
        raise DecodeError("record has no 'kinesis' object")
    seq = str(kin.get("sequenceNumber") or "")
    if not seq:
        raise DecodeError("record has no kinesis.sequenceNumber")
    try:
        payload = orjson.loads(base64.b64decode(kin.get("data", ""), validate=True))
    except (binascii.Error, TypeError, ValueError, orjson.JSONDecodeError) as e:
        raise DecodeError(f"kinesis data is not base64 JSON: {e}") from None
    if not isinstance(payload, Mapping):
        raise DecodeError("kinesis data is not a JSON object")
    ddb = payload.get("dynamodb")
    if not isinstance(ddb, Mapping):
        raise DecodeError("kinesis data has no 'dynamodb' object")
    table = payload.get("tableName")
    if not isinstance(table, str):
        raise DecodeError("kinesis data has no tableName")
    created = _timestamp(ddb.get("ApproximateCreationDateTime"), millis=True)
    return _build(table, prefix, payload, ddb, seq, seq, created)


def _identifier(rec: Any) -> str:
    if isinstance(rec, Mapping):
        for path in (("kinesis", "sequenceNumber"), ("dynamodb", "SequenceNumber")):
            node: Any = rec
            for p in path:
                node = node.get(p) if isinstance(node, Mapping) else None
            if node:
                return str(node)
    return ""


def decode_lambda_event(event: Mapping[str, Any], prefix: str = "") -> DecodedBatch:
    """A DynamoDB Streams or Kinesis Lambda event -> events in arrival order plus failures.

    The cyclic garbage collector is paused while decoding: a large batch allocates many small
    dicts and the collector would otherwise cost several times the decoding itself (measured,
    see BENCHMARKS.md). Nothing decoded here forms reference cycles.
    """
    records = event.get("Records") if isinstance(event, Mapping) else None
    out = DecodedBatch()
    if not isinstance(records, list):
        out.failures.append(DecodeFailure("", "event has no Records list", event))
        return out
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rec in records:
            try:
                if isinstance(rec, Mapping) and "kinesis" in rec:
                    out.events.append(from_kinesis_record(rec, prefix))
                else:
                    out.events.append(from_dynamodb_stream_record(rec, prefix=prefix))
            except DecodeError as e:
                out.failures.append(DecodeFailure(_identifier(rec), str(e), rec))
    finally:
        if was_enabled:
            gc.enable()
    return out


def decode_get_records(records: Iterable[Mapping[str, Any]], table: str, prefix: str = "") -> DecodedBatch:
    out = DecodedBatch()
    for rec in records:
        try:
            out.events.append(from_dynamodb_stream_record(rec, table=table, prefix=prefix))
        except DecodeError as e:
            out.failures.append(DecodeFailure(_identifier(rec), str(e), rec))
    return out


# --- the Kinesis Data Streams for DynamoDB record format (what the forwarder writes) ----------
def to_kinesis_data(rec: Mapping[str, Any], table: str, region: str) -> bytes:
    """A DynamoDB Streams record (GetRecords shape) -> the JSON that Kinesis Data Streams for
    DynamoDB writes: tableName, recordFormat, and ApproximateCreationDateTime in milliseconds."""
    ddb = dict(rec["dynamodb"])
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = int(created.timestamp() * 1000)
    elif isinstance(created, (int, float, Decimal)):
        ddb["ApproximateCreationDateTime"] = int(Decimal(str(created)) * 1000)
    ddb["ApproximateCreationDateTimePrecision"] = "MILLISECOND"
    ddb.pop("SequenceNumber", None)
    ddb.pop("StreamViewType", None)
    body = {
        "awsRegion": region,
        "eventID": rec.get("eventID"),
        "eventName": rec.get("eventName"),
        "userIdentity": rec.get("userIdentity"),
        "recordFormat": "application/json",
        "tableName": table,
        "dynamodb": ddb,
        "eventSource": "aws:dynamodb",
    }
    return orjson.dumps(body)
