"""The lake's pure core: ChangeEvents -> typed Arrow tables, quarantine with reasons."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa

from ingestion.change_event import decode_lambda_event
from projections.lake import columns, quality
from tests.factories import D, kinesis_event, kinesis_record

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def order(oid: str, version: int, status: str = "PENDING", total: str = "25.50", **extra) -> dict:
    return {"OrderId": oid, "CustomerId": "c1", "CartId": "k1", "Status": status, "Currency": "USD",
            "Lines": [{"Sku": "A", "Qty": D(1), "UnitPrice": D("10.50"), "LineAmount": D("10.50")},
                      {"Sku": "B", "Qty": D(3), "UnitPrice": D("5.00"), "LineAmount": D("15.00")}],
            "TotalAmount": D(total), "SagaMode": "choreography", "CreatedAt": "2026-11-27T06:00:00.000001Z",
            "UpdatedAt": "2026-11-27T06:00:01.000000Z", "Version": D(version), **extra}


def build(records):
    batch = decode_lambda_event(kinesis_event(records))
    assert not batch.failures
    return columns.build(batch.events, NOW, None, quality.evaluate)


def test_order_columns_are_typed_exactly_and_lines_become_rows():
    b = build([kinesis_record("Orders", "INSERT", order("o1", 1), created=T0)])
    t = b.batches["order"].parts["2026-11-27"]
    assert t.schema.field("total_amount").type == pa.decimal128(38, 2)
    assert t.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    row = t.to_pylist()[0]
    assert row["total_amount"] == Decimal("25.50") and row["op"] == "INSERT" and row["version"] == 1
    assert row["created_at"] == datetime(2026, 11, 27, 6, 0, 0, 1, tzinfo=UTC)
    assert '"UnitPrice":"10.50"' in row["lines"]  # exact decimal as a string, never a float
    lines = b.batches["order_line"].parts["2026-11-27"].to_pylist()
    assert [(r["line_no"], r["sku"], r["qty"], r["line_amount"]) for r in lines] == [
        (1, "A", Decimal(1), Decimal("10.50")), (2, "B", Decimal(3), Decimal("15.00"))]
    assert not b.quarantined


def test_new_attribute_becomes_nullable_column_and_type_conflict_is_quarantined():
    b = build([kinesis_record("Orders", "INSERT", order("o1", 1, GiftWrap=True), created=T0),
               kinesis_record("Orders", "INSERT", order("o2", 1), created=T0),
               kinesis_record("Transactions", "INSERT", {"TransactionId": "t1", "CustomerId": "c", "Merchant": "m",
                              "Amount": "12.50", "Currency": "USD", "Country": "US",
                              "PostedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)}, created=T0),
               kinesis_record("Transactions", "INSERT", {"TransactionId": "t2", "CustomerId": "c", "Merchant": "m",
                              "Amount": D("12.345"), "Currency": "USD", "Country": "US",
                              "PostedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)}, created=T0)])
    ob = b.batches["order"]
    assert [c.name for c in ob.new_columns] == ["gift_wrap"]
    assert ob.parts["2026-11-27"].column("gift_wrap").to_pylist() == [True, None]
    assert "transaction" not in b.batches
    reasons = {q.event.key["TransactionId"]: (q.expectation, q.column) for q in b.quarantined}
    assert reasons == {"t1": ("expect_column_values_to_be_of_type", "amount"),
                       "t2": ("expect_column_values_to_match_decimal_scale", "amount")}


def test_quality_suite_sends_failing_rows_to_quarantine_with_the_expectation():
    b = build([kinesis_record("Orders", "INSERT", order("o1", 1, status="WEIRD"), created=T0),
               kinesis_record("Orders", "INSERT", order("o2", 1), created=T0),
               kinesis_record("Orders", "MODIFY", order("o2", 1, status="CONFIRMED"), created=T0),
               kinesis_record("ProductCatalog", "INSERT", {"ProductID": "p1", "TranID": "m1", "Action": "ADD",
                              "Qty": D(0), "DateTime": "2026-11-27T06:00:00.000000Z", "Reason": "RESTOCK",
                              "Version": D(1)}, created=T0)])
    got = sorted((q.entity, q.event.key_string, q.expectation) for q in b.quarantined)
    assert got == [
        ("inventory_movement", "ProductCatalog#ProductID=p1#TranID=m1", "expect_column_values_to_be_between"),
        ("order", "Orders#OrderId=o1", "expect_column_values_to_be_in_set"),
        ("order", "Orders#OrderId=o2", "expect_versions_to_rise_per_key"),
        ("order", "Orders#OrderId=o2", "expect_versions_to_rise_per_key")]
    assert "order" not in b.batches


def test_remove_is_a_versioned_tombstone_and_ttl_is_told_apart():
    cart = {"CartId": "k1", "CustomerId": "c1", "Status": "OPEN", "CheckOut": False, "ConflictCount": D(0),
            "CartItems": {"A": {"Qty": D(2), "UnitPrice": D("1.00")}, "B": {"Qty": D(1), "UnitPrice": D("2.00")}},
            "CreatedAt": "2026-11-27T06:00:00.000000Z", "UpdatedAt": "2026-11-27T06:00:00.000000Z",
            "ExpiresAt": D(1800000000), "Version": D(3)}
    b = build([kinesis_record("Cart", "REMOVE", old=cart, ttl=True, created=T0)])
    row = b.batches["cart"].parts["2026-11-27"].to_pylist()[0]
    assert (row["op"], row["version"], row["is_ttl_expiry"], row["item_count"]) == ("REMOVE", 4, True, Decimal(3))


def _baseline(raw_images):
    """The row-wise way the hot path is measured against: boto3's TypeDeserializer + pandas."""
    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    td = TypeDeserializer()
    rows = [{k: td.deserialize(v) for k, v in img.items()} for img in raw_images]
    df = pd.DataFrame(rows)
    df["PostedAt"] = pd.to_datetime(df["PostedAt"], utc=True)
    return pa.Table.from_pandas(df)


def test_columnar_build_equals_the_naive_reference():
    """Same values as the tutorial way (TypeDeserializer + pandas), decimals exact. Speed is
    measured by `cqrs bench`, never asserted in a test."""
    import base64

    import orjson

    records = [kinesis_record("Transactions", "INSERT", {
        "TransactionId": f"t{i}", "CustomerId": f"c{i % 97}", "Merchant": "m", "Amount": D(f"{i}.{i % 100:02d}"),
        "Currency": "USD", "Country": "US", "PostedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)},
        created=T0) for i in range(2000)]
    events = decode_lambda_event(kinesis_event(records)).events
    raw = [orjson.loads(base64.b64decode(r["kinesis"]["data"]))["dynamodb"]["NewImage"] for r in records]
    b = columns.build(events, NOW, None, quality.evaluate)
    table = b.batches["transaction"].parts["2026-11-27"]
    assert table.num_rows == 2000
    ours = dict(zip(table.column("transaction_id").to_pylist(), table.column("amount").to_pylist()))
    base = _baseline(raw).to_pydict()
    assert ours == dict(zip(base["TransactionId"], base["Amount"]))
    assert all(isinstance(v, Decimal) for v in ours.values())


def test_parquet_file_round_trips_exactly_with_min_max_on_the_timestamps_only():
    import io

    import pyarrow.parquet as pq

    from projections.lake.store import parquet_bytes

    t = build([kinesis_record("Orders", "INSERT", order("o1", 1), created=T0),
               kinesis_record("Orders", "MODIFY", order("o1", 2, total="99999999999999999999999999999999999.99"),
                              created=T0)]).batches["order"].parts["2026-11-27"]
    body = parquet_bytes(t)
    assert pq.read_table(io.BytesIO(body)).equals(t)  # every column, decimals to the last digit
    chunks = pq.ParquetFile(io.BytesIO(body)).metadata.row_group(0)
    stats = {chunks.column(i).path_in_schema: chunks.column(i).is_stats_set for i in range(chunks.num_columns)}
    assert stats["event_time"] and stats["created_at"]  # what a time-range query skips files by
    assert not stats["order_id"] and not stats["lines"] and not stats["total_amount"]
