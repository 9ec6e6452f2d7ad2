"""The lake end to end on the local stack (moto S3 + Glue, DuckDB as Athena): projector -> Parquet
change logs -> views; at-least-once delivery, schema evolution, quarantine, compaction, the CLI."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cqrs.provision import create_buckets, create_glue_database
from projections.lake import compact as compaction
from projections.lake import dq
from projections.lake.athena import SQL_ROOT, local_connection, run_athena, run_local
from projections.lake.handler import handle
from projections.lake.store import LakeStore, provision
from tests.factories import D, kinesis_event, kinesis_record

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
DAY2 = T0 + timedelta(days=1)


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def lake(local_stack):
    """A private bucket and Glue database on the shared stack, so other parts' data cannot interfere."""
    tag = uuid.uuid4().hex[:8]
    s = local_stack.with_(lake_bucket=f"lake-test-{tag}", failures_bucket=f"lake-test-f-{tag}",
                          glue_database=f"lake_test_{tag}")
    create_buckets(s)
    create_glue_database(s)
    provision(s)
    return s


def store(s) -> LakeStore:
    return LakeStore(s.boto3_client("s3"), s.boto3_client("glue"), s.lake_bucket, s.glue_database)


def order(oid, v, status="PENDING", cust="c1", reason=None, at=T0, lines=(("A", 1, "10.50"), ("B", 3, "5.00")), **x):
    ls = [{"Sku": sku, "Qty": D(q), "UnitPrice": D(p), "LineAmount": D(p) * q} for sku, q, p in lines]
    img = {"OrderId": oid, "CustomerId": cust, "CartId": f"k-{oid}", "Status": status, "Lines": ls,
           "TotalAmount": sum((line["LineAmount"] for line in ls), Decimal("0.00")), "Currency": "USD",
           "SagaMode": "choreography", "CreatedAt": ts(at), "UpdatedAt": ts(at), "Version": D(v), **x}
    if reason:
        img["CancelReason"] = reason
    return img


def txn(tid, v, amount, cust="c1", **x):
    return {"TransactionId": tid, "CustomerId": cust, "Merchant": "acme", "Amount": amount, "Currency": "USD",
            "Country": "US", "PostedAt": ts(T0), "Version": D(v), **x}


def history():
    """The command side's changes, in commit order, with their Kinesis sequence numbers."""
    seq = iter(range(5000, 6000))
    r = lambda table, op, new=None, old=None, at=T0, ttl=False: kinesis_record(
        table, op, new, old, seq=str(next(seq)), created=at, ttl=ttl)
    o1v1, o1v2 = order("o1", 1), order("o1", 2, "CONFIRMED")
    o2v1, o2v2 = order("o2", 1, cust="c2"), order("o2", 2, "CANCELLED", cust="c2", reason="OUT_OF_STOCK")
    o3v1 = order("o3", 1, at=DAY2, lines=(("A", 2, "10.50"),))
    o4 = order("o4", 1, "CONFIRMED", at=DAY2, lines=(("C", 1, "99.99"),))
    cart = {"CartId": "k1", "CustomerId": "c1", "Status": "OPEN", "CheckOut": False, "ConflictCount": D(0),
            "CartItems": {"A": {"Qty": D(1), "UnitPrice": D("10.50")}}, "CreatedAt": ts(T0),
            "UpdatedAt": ts(T0), "ExpiresAt": D(1900000000), "Version": D(1)}
    cart2 = {**cart, "Status": "CHECKED_OUT", "CheckOut": True, "ConflictCount": D(1), "Version": D(3)}
    cart_x = {**cart, "CartId": "k2", "Version": D(1)}
    prod = {"ProductID": "p1", "TranID": "0", "Name": "Anvil", "Category": "tools", "Price": D("10.50"),
            "Qty": D(5), "LastUpdate": ts(T0), "Version": D(1)}
    prod2 = {**prod, "Qty": D(0), "Version": D(2)}
    mv = {"ProductID": "p1", "TranID": "m1", "Action": "SUB", "Qty": D(5), "DateTime": ts(T0), "Reason": "ORDER",
          "OrderId": "o1", "Version": D(1)}
    alert = {"AlertId": "a1", "TransactionId": "t1", "CustomerId": "c1", "Merchant": "acme", "Rule": "AMOUNT_SPIKE",
             "Reason": "spike", "Amount": D("900.00"), "Status": "OPEN", "RaisedAt": ts(T0), "Version": D(1)}
    return [
        r("Orders", "INSERT", o1v1), r("Orders", "INSERT", o2v1), r("Cart", "INSERT", cart),
        r("ProductCatalog", "INSERT", prod), r("Transactions", "INSERT", txn("t1", 1, D("900.00"))),
        r("Orders", "MODIFY", o1v2, o1v1), r("Orders", "MODIFY", o2v2, o2v1),
        r("Cart", "MODIFY", cart2, cart), r("Cart", "INSERT", cart_x), r("Cart", "REMOVE", old=cart_x, ttl=True),
        r("ProductCatalog", "INSERT", mv), r("ProductCatalog", "MODIFY", prod2, prod), r("Alerts", "INSERT", alert),
        r("Orders", "INSERT", o3v1, at=DAY2), r("Orders", "REMOVE", old=o3v1, at=DAY2),
        r("Orders", "INSERT", o4, at=DAY2), r("Transactions", "INSERT", txn("t2", 1, D("12.34"), cust="c2")),
    ]


def deliver(s, *batches):
    for b in batches:
        assert handle(kinesis_event(b), None, settings=s) == {"batchItemFailures": []}


def all_queries(s):
    con = local_connection(s)
    try:
        return {f.stem: run_local(con, f.read_text()) for f in sorted((SQL_ROOT / "queries").glob("*.sql"))}
    finally:
        con.close()


EXPECTED_ORDERS = [
    ("o1", "c1", "CONFIRMED", Decimal("25.50"), 2),
    ("o2", "c2", "CANCELLED", Decimal("25.50"), 2),
    ("o4", "c1", "CONFIRMED", Decimal("99.99"), 1),
]


@pytest.fixture(scope="module")
def loaded(lake):
    h = history()
    a, b, c = h[:6], h[6:12], h[12:]
    # reordered (c, then a, then b), replayed (a again: same keys -> overwritten), duplicated with a
    # different range (a[3:] + b[:2] -> a second file holding the same changes)
    deliver(lake, c, a, b, a, a[3:] + b[:2])
    return lake


def test_views_equal_the_current_state_after_duplicates_reordering_and_replays(loaded):
    _, rows = run_athena(loaded, "SELECT order_id, customer_id, status, total_amount, version FROM orders ORDER BY order_id")
    assert rows == EXPECTED_ORDERS
    _, lines = run_athena(loaded, "SELECT order_id, line_no, sku, qty, line_amount FROM order_lines ORDER BY 1, 2")
    assert lines == [("o1", 1, "A", 1, Decimal("10.50")), ("o1", 2, "B", 3, Decimal("15.00")),
                     ("o2", 1, "A", 1, Decimal("10.50")), ("o2", 2, "B", 3, Decimal("15.00")),
                     ("o4", 1, "C", 1, Decimal("99.99"))]
    _, carts = run_athena(loaded, "SELECT cart_id, status, checked_out, item_count, conflict_count, version FROM carts")
    assert carts == [("k1", "CHECKED_OUT", True, 1, 1, 3)]  # k2 expired (TTL tombstone)
    _, prods = run_athena(loaded, "SELECT product_id, name, price, qty, version FROM products")
    assert prods == [("p1", "Anvil", Decimal("10.50"), 0, 2)]
    _, tx = run_athena(loaded, "SELECT transaction_id, customer_id, merchant, amount, country, posted_at, version "
                               "FROM transactions ORDER BY transaction_id")
    assert tx == [("t1", "c1", "acme", Decimal("900.00"), "US", T0, 1), ("t2", "c2", "acme", Decimal("12.34"), "US", T0, 1)]
    _, n = run_athena(loaded, "SELECT COUNT(*), COUNT(DISTINCT sequence_number) FROM order_changes")
    assert n[0][0] > n[0][1]  # the change log really holds duplicates: the views hide them


def test_analyst_queries_answer_from_the_lake(loaded):
    q = all_queries(loaded)
    assert q["revenue_per_day"] == (["day", "orders", "revenue"],
                                    [(T0.date(), 1, Decimal("25.50")), (DAY2.date(), 1, Decimal("99.99"))])
    assert q["checkout_funnel"][1] == [(1, 3, 2, 0)]
    assert q["saga_rollbacks_by_cause"][1] == [("OUT_OF_STOCK", 1)]
    assert q["occ_conflict_rate"][1] == [(3, 1, Decimal("0.3333"))]
    assert q["stock_movements"][1] == [(T0.date(), "SUB", "ORDER", 1, 5)]
    assert q["stockouts"][1] == [("p1", "Anvil", 0)]
    assert q["alerts_by_rule"][1] == [("AMOUNT_SPIKE", 1)]
    assert q["top_flagged_customers"][1] == [("c1", 1, Decimal("900.00"))]
    assert q["top_products"] == (["sku", "units", "revenue"],
                                 [("C", 1, Decimal("99.99")), ("B", 3, Decimal("15.00")), ("A", 1, Decimal("10.50"))])


def test_compaction_changes_no_answer_and_is_idempotent(loaded):
    before = all_queries(loaded)
    st = store(loaded)
    keys_before = st.list_keys("changes/order/")
    done = compaction.compact(loaded)
    assert any(c.new_key and c.entity == "order" for c in done)
    keys_after = st.list_keys("changes/order/")
    assert len(keys_after) == 2 < len(keys_before)  # one file per dt partition
    assert all_queries(loaded) == before
    again = compaction.compact(loaded)
    assert not any(c.new_key for c in again) and st.list_keys("changes/") == sorted(st.list_keys("changes/"))
    assert st.list_keys("changes/order/") == keys_after
    _, n = run_athena(loaded, "SELECT COUNT(*), COUNT(DISTINCT sequence_number) FROM order_changes")
    assert n[0][0] == n[0][1]  # compaction also dropped the duplicated changes


def test_new_attribute_becomes_a_nullable_column(lake):
    deliver(lake, [kinesis_record("Orders", "INSERT", order("o9", 1, GiftWrap=True, Priority=D("2.5")),
                                  seq="7001", created=T0)])
    table = lake.boto3_client("glue").get_table(DatabaseName=lake.glue_database, Name="order_changes")["Table"]
    types = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert types["gift_wrap"] == "boolean" and types["priority"] == "decimal(38,1)"
    _, rows = run_athena(lake, "SELECT order_id, gift_wrap, priority FROM order_changes "
                               "WHERE order_id IN ('o1', 'o9') AND version = 1 GROUP BY 1, 2, 3 ORDER BY 1")
    assert rows == [("o1", None, None), ("o9", True, Decimal("2.5"))]  # older files read as null


def test_type_conflict_goes_to_quarantine_with_its_reason(lake):
    deliver(lake, [kinesis_record("Transactions", "INSERT", txn("t-bad", 1, "12.50"), seq="8001", created=T0),
                   kinesis_record("Transactions", "INSERT", txn("t-ok", 1, D("1.00")), seq="8002", created=T0),
                   {"kinesis": {"sequenceNumber": "8003", "data": "bm90IGpzb24="}, "eventID": "shardId-1:8003"}])
    _, rows = run_athena(lake, "SELECT transaction_id FROM transactions WHERE transaction_id LIKE 't-%' ORDER BY 1")
    assert rows == [("t-ok",)]
    q = dq.quarantine_rows(store(lake)).to_pylist()
    bad = [r for r in q if r["item_key"] == "Transactions#TransactionId=t-bad"]
    assert [(r["expectation"], r["column_name"]) for r in bad] == [("expect_column_values_to_be_of_type", "amount")]
    assert "'12.50'" in bad[0]["reason"] and json.loads(bad[0]["payload"])["Amount"] == "12.50"
    assert any(r["entity"] == "_undecodable" and r["sequence_number"] == "8003" for r in q)
    _, summary = dq.report(lake)
    assert ("transaction", "expect_column_values_to_be_of_type", "amount", 1) in [r[:4] for r in summary]


def test_every_sql_file_runs_locally(loaded):
    con = local_connection(loaded)
    try:
        for f in sorted(SQL_ROOT.glob("*/*.sql")):
            run_local(con, f.read_text())
    finally:
        con.close()


def test_cli_query_and_dq(loaded, capsys, monkeypatch):
    from cqrs.cli import main

    for var, val in (("CQRS_LAKE_BUCKET", loaded.lake_bucket), ("CQRS_GLUE_DATABASE", loaded.glue_database)):
        monkeypatch.setenv(var, val)
    assert main(["query", "athena", str(SQL_ROOT / "queries" / "revenue_per_day.sql"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["columns"] == ["day", "orders", "revenue"] and out["rows"][0]["revenue"] == "25.50"
    assert main(["query", "athena", "--sql", "SELECT order_id FROM orders WHERE order_id = 'o1'"]) == 0
    assert "o1" in capsys.readouterr().out
    assert main(["query", "athena", "--sql", "SELEC nonsense FROM"]) == 1
    assert "not valid Athena SQL" in capsys.readouterr().err
    assert main(["dq", "report"]) == 0
