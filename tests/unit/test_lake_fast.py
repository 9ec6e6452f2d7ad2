"""The lake's columnar fast path builds exactly what the per-event path builds, or hands over.

Every case runs both paths on the same Kinesis event and compares the Arrow tables (values and
types), the quarantined rows (entity, expectation, column, reason, record) and the undecodable
records. Cases cover each entity, removals and TTL expiry, 38-digit and 2^53+1 numbers, rows the
quality suite quarantines, and the shapes the fast path must refuse (new attributes, type-tag
conflicts, NULL values, bad base64, unknown tables): those must still come out equal.
"""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from bench.events import kinesis_event as bench_event
from ingestion import columnar, ndjson
from ingestion.change_event import decode_lambda_event
from projections.lake import columns, fast, quality
from projections.lake.schema import Column
from tests.factories import D, kinesis_event, kinesis_record

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def order(oid: str, version: int = 1, status: str = "PENDING", **extra) -> dict:
    return {"OrderId": oid, "CustomerId": "c1", "CartId": "k1", "Status": status, "Currency": "USD",
            "Lines": [{"Sku": "A", "Qty": D(1), "UnitPrice": D("10.50"), "LineAmount": D("10.50")},
                      {"Sku": "B", "Qty": D(3), "UnitPrice": D("5.00"), "LineAmount": D("15.00")}],
            "TotalAmount": D("25.50"), "SagaMode": "choreography", "CreatedAt": "2026-11-27T06:00:00.000001Z",
            "UpdatedAt": "2026-11-27T06:00:01.000000Z", "Version": D(version), **extra}


def txn(tid: str, amount: str = "12.34", version: int = 1, **extra) -> dict:
    return {"TransactionId": tid, "CustomerId": "c1", "Merchant": "ACME", "Amount": D(amount), "Currency": "USD",
            "Country": "US", "PostedAt": "2026-11-27T06:00:00.123456Z", "Version": D(version), **extra}


def product(pid: str, version: int = 1) -> dict:
    return {"ProductID": pid, "TranID": "0", "Name": "Mug", "Category": "kitchen", "Price": D("9.99"),
            "Qty": D(40), "LastUpdate": "2026-11-27T06:00:00Z", "Version": D(version)}


def movement(pid: str, tran: str) -> dict:
    return {"ProductID": pid, "TranID": tran, "Action": "SUB", "Qty": D(2), "Reason": "ORDER", "OrderId": "o1",
            "DateTime": "2026-11-27T06:00:02Z", "Version": D(1)}


def payment(pid: str) -> dict:
    return {"PaymentId": pid, "OrderId": "o1", "CustomerId": "c1", "Amount": D("25.50"), "Currency": "USD",
            "Status": "CAPTURED", "Merchant": "ACME", "Country": "US", "CreatedAt": "2026-11-27T06:00:03Z",
            "UpdatedAt": "2026-11-27T06:00:03Z", "Version": D(1)}


def alert(aid: str) -> dict:
    return {"AlertId": aid, "TransactionId": "t1", "CustomerId": "c1", "Merchant": "ACME",
            "Rule": "AMOUNT_SPIKE", "Reason": "3x the usual", "Amount": D("999.00"), "Status": "OPEN",
            "RaisedAt": "2026-11-27T06:00:04Z", "Version": D(1)}


def cart(cid: str) -> dict:
    return {"CartId": cid, "CustomerId": "c1", "CartItems": {"A": {"Qty": D(2)}}, "Status": "OPEN",
            "CreatedAt": "2026-11-27T06:00:00Z", "UpdatedAt": "2026-11-27T06:00:00Z", "ExpiresAt": D(1796000000),
            "Version": D(1)}


def rec(table: str, op: str, new=None, old=None, minutes: int = 0, **kw) -> dict:
    return kinesis_record(table, op, new, old, created=T0 + timedelta(minutes=minutes), **kw)


def both(event: dict, extras: dict | None = None):
    extras = extras or {}
    slow_batch = decode_lambda_event(event)
    slow = columns.build(slow_batch.events, NOW, extras, quality.evaluate)
    parsed = columnar.parse(event)
    if parsed is None:
        return slow, slow_batch.failures, None
    built, failures = fast.build(parsed, NOW, extras, quality.evaluate)
    return slow, slow_batch.failures, (built, failures)


def assert_same(event: dict, extras: dict | None = None, expect_fast: bool = True) -> columns.Built:
    slow, slow_failures, got = both(event, extras)
    assert (got is not None) == expect_fast
    if got is None:
        return slow
    built, failures = got
    assert built.batches.keys() == slow.batches.keys()
    for name, eb in slow.batches.items():
        fb = built.batches[name]
        assert [c.name for c in fb.columns] == [c.name for c in eb.columns], name
        assert fb.new_columns == eb.new_columns, name
        assert fb.parts.keys() == eb.parts.keys(), name
        for dt, t in eb.parts.items():
            assert fb.parts[dt].schema == t.schema, (name, dt)
            assert fb.parts[dt].to_pylist() == t.to_pylist(), (name, dt)

    def q(b):
        return sorted((x.entity, x.expectation, x.column, x.reason, x.event.sequence_number) for x in b)
    assert q(built.quarantined) == q(slow.quarantined)
    assert sorted((f.item_identifier, f.reason) for f in failures) == sorted((f.item_identifier, f.reason)
                                                                            for f in slow_failures)
    return built


def test_bench_batch_is_identical_and_taken_fast():
    event = bench_event(600, seed=3)  # transactions and orders with 22-digit amounts
    built = assert_same(event)
    assert built.batches["order_line"].parts  # lines exploded from the orders


def test_every_entity_removals_ttl_and_multiple_days():
    event = kinesis_event([
        rec("Orders", "INSERT", order("o1")), rec("Orders", "MODIFY", order("o1", 2, "CONFIRMED"), order("o1")),
        rec("Orders", "REMOVE", None, order("o2", 3, "CANCELLED", CancelReason="TIMEOUT"), minutes=60 * 20),
        rec("Transactions", "INSERT", txn("t1")), rec("Transactions", "INSERT", txn("t2", PaymentId="p1")),
        rec("ProductCatalog", "INSERT", product("P1")), rec("ProductCatalog", "INSERT", movement("P1", "m-1")),
        rec("Payments", "INSERT", payment("p1")), rec("Alerts", "INSERT", alert("a1")),
        rec("Cart", "INSERT", cart("k1")), rec("Cart", "REMOVE", None, cart("k2"), ttl=True),
    ])
    built = assert_same(event)
    assert fast.slow_entities(columnar.parse(event), {}) == {"cart"}  # all but carts built columnar
    assert {"order", "order_line", "transaction", "product", "inventory_movement", "payment", "alert",
            "cart"} <= built.batches.keys()
    assert len(built.batches["order"].parts) == 2  # the removal 20 hours later is another day


def test_exact_numbers_38_digits_and_beyond_2_pow_53():
    big = "123456789012345678901234567890123456.78"  # 38 significant digits
    event = kinesis_event([rec("Transactions", "INSERT", txn("t1", big)),
                           rec("Transactions", "INSERT", txn("t2", f"{2**53 + 1}.00"))])
    built = assert_same(event)
    amounts = built.batches["transaction"].parts["2026-11-27"].column("amount").to_pylist()
    assert amounts == [Decimal(big), Decimal(2**53 + 1)]


def test_rows_the_quality_suite_fails_are_quarantined_the_same_way():
    event = kinesis_event([
        rec("Orders", "INSERT", order("o1", status="LOST")),  # status outside its set
        rec("Transactions", "INSERT", txn("t1")),
        rec("Transactions", "MODIFY", txn("t1", "99.00"), txn("t1")),  # same version, different content
        rec("Orders", "INSERT", order("o3")),
    ])
    built = assert_same(event)
    assert {x.expectation for x in built.quarantined} >= {"expect_column_values_to_be_in_set",
                                                          quality.VERSIONS_EXPECTATION}
    lines = built.batches["order_line"].parts["2026-11-27"].column("order_id").to_pylist()
    assert lines == ["o3", "o3"]  # the quarantined order keeps its lines with it


@pytest.mark.parametrize("odd", [
    pytest.param(txn("t9", GiftWrap=True), id="new attribute"),
    pytest.param(txn("t9", Status="PENDING"), id="another entity's attribute"),
    pytest.param({**txn("t9"), "Amount": "12.34"}, id="string amount"),
    pytest.param({**txn("t9"), "Merchant": None}, id="NULL value"),
    pytest.param(txn("t9", "1.555"), id="three decimals"),
    pytest.param({**txn("t9"), "PostedAt": "yesterday"}, id="bad timestamp"),
    pytest.param({**txn("t9"), "PostedAt": "2026-11-27T06:00:00Z"}, id="timestamp without fraction"),
    pytest.param({**txn("t9"), "PostedAt": "2026-11-27T08:00:00+02:00"}, id="timestamp with offset"),
    pytest.param({**txn("t9"), "Currency": "2026-11-27T06:00:00Z"}, id="string that looks like a timestamp"),
    pytest.param(order("o9", Lines=[{"Sku": "A\"quote", "Qty": D(1), "UnitPrice": D("1E+1"), "LineAmount": D(10)}]),
                 id="lines needing JSON escapes and exponents"),
    pytest.param(order("o9", Lines=[{"Sku": "A\"quote", "Qty": D(1), "UnitPrice": D(10), "LineAmount": D(10)}]),
                 id="a Sku with a quote"),
    pytest.param(order("o9", Lines=[{"Sku": "A\\b", "Qty": D(1), "UnitPrice": D(10), "LineAmount": D(10)}]),
                 id="a Sku with a backslash"),
    pytest.param(order("o9", Lines=[{"Sku": "A\nB", "Qty": D(1), "UnitPrice": D(10), "LineAmount": D(10)}]),
                 id="a Sku with a line break"),
    pytest.param(order("o9", Lines=[{"Sku": "A", "Qty": D(1), "UnitPrice": D("1E+1"), "LineAmount": D(10)}]),
                 id="a price with an exponent"),
])
def test_odd_rows_send_their_entity_the_per_event_way_with_the_same_result(odd):
    table = "Orders" if "OrderId" in odd else "Transactions"
    event = kinesis_event([rec("Transactions", "INSERT", txn("t1")), rec("Orders", "INSERT", order("o1")),
                           rec(table, "INSERT", odd)])
    assert_same(event)


def test_known_extra_columns_from_the_catalog_are_filled():
    extras = {"transaction": (Column("gift_wrap", "GiftWrap", "bool"), Column("note", "Note", "string"))}
    event = kinesis_event([rec("Transactions", "INSERT", txn("t1", GiftWrap=True, Note="x")),
                           rec("Transactions", "INSERT", txn("t2"))])
    built = assert_same(event, extras)
    t = built.batches["transaction"].parts["2026-11-27"]
    assert t.column("gift_wrap").to_pylist() == [True, None]


def _raw(data: bytes, seq: str = "49650000000000000000000000000000000000000000000001") -> dict:
    return {"kinesis": {"data": base64.b64encode(data).decode(), "sequenceNumber": seq, "partitionKey": "x"},
            "eventSource": "aws:kinesis", "eventID": f"shardId-000000000000:{seq}"}


@pytest.mark.parametrize("bad", [
    pytest.param(_raw(b"not json"), id="not JSON"),
    pytest.param({"kinesis": {"data": "%%%", "sequenceNumber": "1"}}, id="not base64"),
    pytest.param(_raw(orjson.dumps({"tableName": "Nope", "eventName": "INSERT", "dynamodb": {}})), id="unknown table"),
    pytest.param(_raw(orjson.dumps({"tableName": "Transactions", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": 1, "Keys": {"TransactionId": {"S": "t"}},
        "NewImage": {"TransactionId": {"S": "t"}, "Merchant": {"S": "BAD"}, "Version": {"N": "1"}}}}).replace(
        b"BAD", b"\xff\xfe")), id="invalid UTF-8"),
    pytest.param(_raw(orjson.dumps({"tableName": "Transactions", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": 1, "Keys": {"TransactionId": {"S": "t"}},
        "NewImage": {"TransactionId": {"S": "t"}}}})), id="no Version"),
    pytest.param(_raw(orjson.dumps({"tableName": "Transactions", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": 1, "Keys": {"TransactionId": {"S": "t"}},
        "NewImage": {"TransactionId": {"S": "t"}, "Merchant": None, "Version": {"N": "1"}}}})),
        id="an attribute that is a JSON null"),
    pytest.param(_raw(orjson.dumps({"tableName": "Transactions", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": 1, "Keys": {"TransactionId": {"S": "t\"q"}},
        "NewImage": {"TransactionId": {"S": "t\"q"}, "Merchant": None, "Version": {"N": "1"}}}})),
        id="an attribute that is a JSON null, in a body pyarrow.json reads"),
    pytest.param(_raw(orjson.dumps({"tableName": "Transactions", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": 1, "Keys": {"TransactionId": {"S": "t"}},
        "NewImage": {"TransactionId": {"S": "t"}, "Merchant": {}, "Version": {"N": "1"}}}})),
        id="an attribute that is an empty object"),
    pytest.param(_raw(orjson.dumps({"tableName": "Orders", "eventName": "MODIFY", "dynamodb": {
        "ApproximateCreationDateTime": 1, "Keys": {"OrderId": {"S": "o"}},
        "NewImage": {"OrderId": {"S": "o"}, "Version": {"N": "2"}},
        "OldImage": {"OrderId": {"S": "o"}, "TotalAmount": {"N": "ten"}, "Version": {"N": "1"}}}})),
        id="an old image number that is no number"),
    pytest.param(_raw(orjson.dumps({"tableName": "Transactions", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": 2**60, "Keys": {"TransactionId": {"S": "t"}},
        "NewImage": {"TransactionId": {"S": "t"}, "Version": {"N": "1"}}}})), id="creation time past year 9999"),
    pytest.param(_raw(orjson.dumps({"tableName": "Transactions", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": 1, "Keys": {"TransactionId": {"S": "t"}}, "SizeBytes": "abc",
        "NewImage": {"TransactionId": {"S": "t"}, "Version": {"N": []}}}})), id="a number that is a list"),
])
def test_undecodable_records_make_the_whole_batch_take_the_per_event_path(bad):
    event = kinesis_event([rec("Transactions", "INSERT", txn("t1")), bad])
    assert columnar.parse(event) is None
    slow, failures, _ = both(event)
    assert len(failures) == 1 and slow.batches["transaction"].parts


@pytest.mark.parametrize("number", ["0.0000001", "0.0000000", "-0.00000000", "0.000001", "0.000000", "0.00000", "-0.0000005", "0.00000900",
                                    "0.1000000000", "007", "1.", "-0", "-0.5", "1e5", "12.50", "0"])
@pytest.mark.parametrize("reader", ["compiled", "pyarrow.json"])
def test_line_numbers_are_copied_only_when_decimal_prints_them_the_same(number, reader):
    # The DynamoDB JSON text of a line's numbers, as another writer could send it: the fast path copies
    # it into the `lines` JSON only where str(Decimal) prints the same. 0.0000000 prints as 0E-7 and
    # still fits the lines' decimal(38, 2) columns, so only the `lines` text would differ. The compiled
    # reader's notes say which numbers are not canonical; where pyarrow.json reads the batch (an escape
    # in a merchant's name) a pattern says it.
    r = rec("Orders", "INSERT", order("o9"))
    data = base64.b64decode(r["kinesis"]["data"])
    assert data.count(b'"N":"10.50"') == 2
    r["kinesis"]["data"] = base64.b64encode(data.replace(b'"N":"10.50"', f'"N":"{number}"'.encode())).decode()
    merchant = "Caf\u00e9 \"Q\"" if reader == "pyarrow.json" else "Cafe"
    event = kinesis_event([rec("Transactions", "INSERT", txn("t1", Merchant=merchant)), rec("Orders", "INSERT", order("o1")), r])
    parsed = columnar.parse(event)
    assert parsed is not None and (parsed.odd_numbers is None) == (reader == "pyarrow.json")
    assert_same(event)


@pytest.mark.parametrize("payload", [b"null", b" null", b"[]", b"7"])
def test_a_first_record_that_is_no_object_is_named_not_a_crash(payload):
    # pyarrow.json 25.0.1 dies with SIGSEGV on NDJSON whose first line is `null` (seen here): before
    # ingestion.ndjson checked the lines, such a record took the whole projector process down.
    event = kinesis_event([_raw(payload), rec("Transactions", "INSERT", txn("t1"))])
    assert columnar.parse(event) is None
    slow, failures, _ = both(event)
    assert len(failures) == 1 and slow.batches["transaction"].parts


def test_text_beyond_ascii_is_parsed_by_the_compiled_reader_and_comes_out_the_same():
    event = kinesis_event([rec("Transactions", "INSERT", txn("t1", Merchant="Café Zoë ✓ 🚀", Country="DE")),
                           rec("Orders", "INSERT", order("o1", CustomerId="Jürgen \u2028 ü"))])
    assert ndjson.read_native(columnar.parse(event).body) is not None  # not handed to pyarrow.json
    assert_same(event)
