"""`cqrs replay --to warehouse`: the bulk path (reliability.warehouse_replay, staging rows built in
DuckDB from the lake) ends in exactly the warehouse the per-record path (synthesized records through
the projector's handler) builds from the same change log, every table, every column; run twice it
changes nothing; what it cannot take plainly (odd order lines) is decided by the per-record path."""
from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from projections.lake import handler as lh
from projections.warehouse.adapters import PostgresWarehouse
from reliability.replay import replay
from reliability.sandbox import order, private_settings, product, provision, transaction, ts
from tests.factories import kinesis_event, kinesis_record

pytestmark = pytest.mark.integration

TABLES = ("dim_date", "dim_customer", "product_versions", "dim_product", "fact_orders", "fact_order_lines",
          "fact_payments", "fact_inventory_movements", "fact_transactions", "fact_alerts", "fact_carts")


def _changes() -> list[dict]:
    D = Decimal
    recs = []

    def up(table: str, new: dict, old: dict | None = None) -> None:
        recs.append(kinesis_record(table, "MODIFY" if old else "INSERT", new, old))

    # orders: three versions with a shrinking Lines list, a removal, an odd line (fractional Qty:
    # refused by rows.py with its reason), a money value with trailing zeros (1.500: accepted)
    o1 = order("o-1", 1, Lines=[{"Sku": f"S{i}", "Qty": D(i + 1), "UnitPrice": D("2.50"), "LineAmount": D("2.50") * (i + 1)}
                                for i in range(3)], CustomerId="cust-a", CreatedAt=ts(5))
    up("Orders", o1)
    o1b = dict(o1, Version=D(2), Status="CONFIRMED", Lines=o1["Lines"][:2])
    up("Orders", o1b, o1)
    up("Orders", dict(o1b, Version=D(3), Status="CANCELLED", CancelReason="TIMEOUT"), o1b)
    o2 = order("o-2", 1, CustomerId="cust-b")
    up("Orders", o2)
    recs.append(kinesis_record("Orders", "REMOVE", None, o2))
    up("Orders", order("o-3", 1, Lines=[{"Sku": "S9", "Qty": D("1.5"), "UnitPrice": D("1.00"), "LineAmount": D("1.50")}]))
    up("Orders", order("o-4", 1, Lines=[{"Sku": "S8", "Qty": D(2), "UnitPrice": D("1.500"), "LineAmount": D("3.00")}]))
    up("Orders", order("o-5", 1, Lines=[], CustomerId="cust-c", CreatedAt=ts(1)))
    # transactions: exact huge money, a later version, a removal
    up("Transactions", transaction("t-1", amount="12345678901234567890123.45", CustomerId="cust-a", PostedAt=ts(2)))
    t2 = transaction("t-2", amount="0.10")
    up("Transactions", t2)
    up("Transactions", dict(t2, Version=D(2), Amount=D("0.20"), PostedAt="2026-11-28T23:59:59.999999Z"), t2)
    # a value too long for its warehouse column: the warehouse refuses the load unit holding it
    up("Transactions", transaction("t-long", Merchant="m" * 200))
    t3 = transaction("t-3")
    up("Transactions", t3)
    recs.append(kinesis_record("Transactions", "REMOVE", None, t3))
    # products: price history (SCD2) and a removal; an inventory movement
    p1 = product("p-1", 1)
    up("ProductCatalog", p1)
    p2 = product("p-1", 2, price="13.00")
    up("ProductCatalog", p2, p1)
    p3 = product("p-1", 3, price="13.00", qty=4)
    up("ProductCatalog", p3, p2)
    recs.append(kinesis_record("ProductCatalog", "REMOVE", None, product("p-2", 1)))
    up("ProductCatalog", {"ProductID": "p-1", "TranID": "m-1", "Action": "SUB", "Qty": D(2), "Reason": "ORDER",
                          "OrderId": "o-1", "DateTime": ts(7), "Version": D(1)})
    # a cart, a payment, an alert
    up("Cart", {"CartId": "c-1", "CustomerId": "cust-d", "CartItems": {"S1": {"Qty": D(2)}, "S2": {"Qty": D(3)}},
                "CheckOut": False, "Status": "OPEN", "CreatedAt": ts(3), "UpdatedAt": ts(4), "Version": D(1)})
    up("Payments", {"PaymentId": "pay-1", "OrderId": "o-1", "CustomerId": "cust-a", "Amount": D("7.50"),
                    "Currency": "USD", "Status": "DECLINED", "DeclineReason": "CARD", "Merchant": "acme",
                    "Country": "US", "CreatedAt": ts(0), "UpdatedAt": ts(1), "Version": D(1)})
    up("Alerts", {"AlertId": "a-1", "TransactionId": "t-1", "CustomerId": "cust-e", "Merchant": "acme",
                  "Rule": "AMOUNT_SPIKE", "Reason": "spike", "Amount": D("99.99"), "Status": "OPEN",
                  "RaisedAt": ts(9), "Version": D(1)})
    return recs


def _state(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn) as c:
        return {t: sorted(c.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def _lake(local_stack, directory):
    s = private_settings(local_stack, directory)
    provision(s)
    lh.project(kinesis_event(_changes()), lh._store(s), s.table_prefix)
    return s


def _other_warehouse(s):
    from cqrs.provision import create_warehouse_database

    other = s.with_(warehouse_dsn=s.warehouse_dsn + "_rec")
    create_warehouse_database(other.warehouse_dsn)
    PostgresWarehouse(other.warehouse_dsn).create_schema()
    return other


@pytest.mark.parametrize("unit", [50_000, 3])  # one load unit; many (a key's changes stay in one)
def test_bulk_replay_builds_the_warehouse_the_per_record_path_builds(local_stack, tmp_path, monkeypatch, unit):
    from reliability import warehouse_replay

    monkeypatch.setattr(warehouse_replay, "UNIT", unit)
    lake = _lake(local_stack, tmp_path)
    per = _other_warehouse(lake)
    ref = replay(per, "warehouse", quiet=True, bulk=False)
    got = replay(lake, "warehouse", quiet=True)
    assert got.applied == ref.applied == len(_changes())
    # the fractional Qty and the too long merchant are refused by the per-record path in both, named
    assert len(got.failed) == len(ref.failed) == 2
    # odd lines (o-3, and o-4's 1.500) go the per-record path; so does the unit holding t-long
    assert warehouse_replay.LAST_PHASES["odd_orders"] == 2 and warehouse_replay.LAST_PHASES["refused_units"] == 1
    state = _state(lake.warehouse_dsn)
    assert state == _state(per.warehouse_dsn)
    assert state["fact_transactions"][0][4] == Decimal("12345678901234567890123.45")  # exact
    assert [r[1] for r in state["fact_order_lines"] if r[0] == "o-1"] == [1, 2, 3]
    assert {r[0]: r[-1] for r in state["fact_orders"]}["o-2"] is True  # a versioned tombstone
    # replayed again: every change is a version-guarded no-op
    again = replay(lake, "warehouse", quiet=True)
    assert again.applied == got.applied and _state(lake.warehouse_dsn) == state


def test_bulk_replay_of_chosen_keys_and_a_time_window(local_stack, tmp_path):
    lake = _lake(local_stack, tmp_path)
    replay(lake, "warehouse", quiet=True)
    with psycopg.connect(lake.warehouse_dsn, autocommit=True) as c:
        before = _state(lake.warehouse_dsn)
        c.execute("DELETE FROM fact_transactions WHERE transaction_id IN ('t-1', 't-2')")
    p = replay(lake, "warehouse", keys=["t-2"], quiet=True)
    assert p.applied == 2 and p.failed == []  # both versions of t-2 read, the highest applied
    after = _state(lake.warehouse_dsn)
    assert [r[0] for r in after["fact_transactions"]] == ["t-2", "t-3"]  # t-long was refused
    replay(lake, "warehouse", until="2030-01-01 00:00:00", quiet=True)
    assert _state(lake.warehouse_dsn) == before


def test_redshift_and_athena_keep_the_per_record_path(local_stack):
    from reliability.replay import _bulk_warehouse

    assert _bulk_warehouse(local_stack)  # the local stack: DuckDB lake, PostgreSQL warehouse
    assert not _bulk_warehouse(local_stack.with_(warehouse_dsn="postgresql://u@wg.123.us-east-1.redshift-serverless"
                                                              ".amazonaws.com:5439/dev"))
    assert not _bulk_warehouse(local_stack.with_(aws_endpoint_url=None))  # Athena reads the lake
