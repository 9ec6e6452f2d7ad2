"""ChangeEvent decoding of AWS-shaped events (tests/events/, written from AWS's documented formats)."""
from __future__ import annotations

import base64
import copy
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.change_event import decode_lambda_event, from_kinesis_record, to_kinesis_data
from tests.conftest import load_event
from tests.factories import json_paths


def test_dynamodb_stream_event_decodes_every_type_exactly():
    batch = decode_lambda_event(load_event("dynamodb_stream_event.json"))
    assert batch.failures == []
    ins, mod, ttl, delete = batch.events
    assert (ins.table, ins.entity, ins.operation, ins.version) == ("Orders", "order", "INSERT", 1)
    img = ins.new_image
    assert img["TotalAmount"] == Decimal("12345678901234567890.123456789012345678")  # 38 digits survive
    assert str(img["TotalAmount"]) == "12345678901234567890.123456789012345678"
    assert img["Tags"] == {"gift", "express"} and img["LineQty"] == {Decimal(1), Decimal(2), Decimal(10)}
    assert img["Signature"] == b"\x00\x01\x02\x03\x04" and img["Thumbs"] == {b"\x01", b"\x02"}
    assert img["Shipping"] == {"Address": {"City": "Lyon", "Zip": "69001"}, "Fee": Decimal("4.99"), "Notes": None}
    assert img["Lines"][0] == {"Sku": "SKU-1", "Qty": Decimal(2), "UnitPrice": Decimal("0.10")}
    assert img["Gift"] is True and img["CancelReason"] is None
    assert ins.item_identifier == "111100000000000000000001" and ins.key_string == "Orders#OrderId=ord-0001"
    assert (mod.operation, mod.version, mod.old_image["Status"]) == ("MODIFY", 2, "PENDING")
    # A TTL expiry (principal dynamodb.amazonaws.com) vs a user delete: both versioned tombstones.
    assert (ttl.operation, ttl.is_ttl_expiry, ttl.version, ttl.new_image) == ("REMOVE", True, 5, None)
    assert ttl.image["Status"] == "ABANDONED"
    assert (delete.is_ttl_expiry, delete.version) == (False, 3)


def test_kinesis_data_streams_for_dynamodb_records_decode():
    batch = decode_lambda_event(load_event("kinesis_ddb_event.json"))
    assert batch.failures == []
    tx, ttl = batch.events
    assert tx.table == "Transactions" and tx.new_image["Amount"] == Decimal("99999999999999999999999999999999999.99")
    assert tx.item_identifier == "49656783930150203476301298478932746253765917842187427842"
    assert tx.approximate_creation_time.timestamp() == 1795737600.123  # milliseconds in this format
    assert ttl.is_ttl_expiry and ttl.version == 5


def test_undecodable_record_is_reported_with_its_identifier_not_dropped():
    batch = decode_lambda_event(load_event("kinesis_ddb_event_with_undecodable.json"))
    assert len(batch.events) == 2 and len(batch.failures) == 1
    f = batch.failures[0]
    assert f.item_identifier == "49656783930150203476301298478932746253765917842187427844"
    assert "not base64 JSON" in f.reason and f.record["kinesis"]["data"] == "bm90IGpzb24="


def test_record_without_version_or_with_unknown_table_fails_with_reason():
    ev = load_event("dynamodb_stream_event.json")
    del ev["Records"][0]["dynamodb"]["NewImage"]["Version"]
    ev["Records"][1]["eventSourceARN"] = "arn:aws:dynamodb:us-east-1:123456789012:table/Nope/stream/x"
    batch = decode_lambda_event(ev)
    reasons = {f.item_identifier: f.reason for f in batch.failures}
    assert "carries no Version" in reasons["111100000000000000000001"]
    assert "unknown table" in reasons["111100000000000000000002"]
    assert len(batch.events) == 2


def test_forwarder_format_round_trips_through_the_kinesis_decoder():
    """What the forwarder writes (to_kinesis_data of a GetRecords record) decodes to the same change."""
    src = load_event("dynamodb_stream_event.json")["Records"][0]
    data = to_kinesis_data(src, "Orders", "us-east-1")
    rec = {"kinesis": {"sequenceNumber": "7", "data": base64.b64encode(data).decode(), "partitionKey": "p"}}
    ch = from_kinesis_record(rec)
    assert ch.new_image["TotalAmount"] == Decimal("12345678901234567890.123456789012345678")
    assert ch.approximate_creation_time.timestamp() == 1795737600
    assert b'"recordFormat":"application/json"' in data and b"SequenceNumber" not in data


# --- malformed records: never an exception, always an event or a named failure ----------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["S", "N", "M", "L", "x"]), inner,
                                                                 max_size=3),
    max_leaves=6)


def _replaced(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = copy.deepcopy(node)
    parent = node
    for p in path[:-1]:
        parent = parent[p]
    parent[path[-1]] = value
    return node


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_malformed_value_anywhere_in_a_record_is_a_named_failure_never_an_exception(data):
    # Each record: a valid Kinesis-format change with one value somewhere (envelope, keys, images,
    # SizeBytes, ...) replaced by arbitrary JSON. A decoder exception would fail the whole batch.
    event = load_event("kinesis_ddb_event.json")
    records = []
    for rec in event["Records"]:
        payload = orjson.loads(base64.b64decode(rec["kinesis"]["data"]))
        path = data.draw(st.sampled_from(json_paths(payload)[1:]))
        payload = _replaced(payload, path, data.draw(JSON_VALUES))
        records.append({**rec, "kinesis": {**rec["kinesis"], "data": base64.b64encode(orjson.dumps(payload)).decode()}})
    batch = decode_lambda_event({"Records": records})
    assert len(batch.events) + len(batch.failures) == len(records)
    assert all(f.reason for f in batch.failures)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_malformed_value_anywhere_in_a_streams_record_is_a_named_failure_never_an_exception(data):
    records = []
    for rec in load_event("dynamodb_stream_event.json")["Records"]:
        path = data.draw(st.sampled_from(json_paths(rec)[1:]))
        records.append(_replaced(rec, path, data.draw(JSON_VALUES)))
    batch = decode_lambda_event({"Records": records})
    assert len(batch.events) + len(batch.failures) == len(records)
    assert all(f.reason for f in batch.failures)


def test_a_version_beyond_bigint_is_a_named_failure():
    # Every read model keeps versions as BIGINT: 2^63 failed the lake's per-event builder (OverflowError).
    ev = load_event("dynamodb_stream_event.json")
    ev["Records"][0]["dynamodb"]["NewImage"]["Version"] = {"N": str(2**63)}
    batch = decode_lambda_event(ev)
    assert [f.item_identifier for f in batch.failures] == ["111100000000000000000001"]
    assert "below 2^63 - 1" in batch.failures[0].reason and len(batch.events) == 3
