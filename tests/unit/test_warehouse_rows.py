"""Pure core of the warehouse projector: changes -> staging rows, dedup, micro-batches, SQL files."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from ingestion.change_event import decode_lambda_event
from projections.warehouse import dialect
from projections.warehouse.projector import MicroBatcher
from projections.warehouse.rows import MERGES, STAGES, build_batch, rows_for
from tests.factories import TXN, D, kinesis_event, kinesis_record


def order(oid: str = "o1", version: int = 1, status: str = "PENDING", **extra):
    img = {"OrderId": oid, "CustomerId": "c1", "CartId": "k1", "Status": status,
           "Lines": [{"Sku": "SKU-1", "Qty": D(2), "UnitPrice": D("9.99"), "LineAmount": D("19.98")},
                     {"Sku": "SKU-2", "Qty": D(1), "UnitPrice": D("0.01"), "LineAmount": D("0.01")}],
           "TotalAmount": D("19.99"), "Currency": "USD", "SagaMode": "choreography",
           "CreatedAt": "2026-11-27T06:22:00.123456Z", "UpdatedAt": "2026-11-27T06:22:01.000000Z",
           "Version": D(version)}
    img.update(extra)
    return img


def decode(*records):
    batch = decode_lambda_event(kinesis_event(records))
    assert not batch.failures
    return batch.events


def col(table: str, row: tuple, name: str):
    return row[STAGES[table].columns.index(name)]


def test_order_becomes_order_and_line_rows_with_exact_decimals():
    (ch,) = decode(kinesis_record("Orders", "INSERT", order()))
    rows = rows_for(ch)
    (o,) = rows["stage_orders"]
    assert col("stage_orders", o, "total_amount") == Decimal("19.99")
    assert isinstance(col("stage_orders", o, "total_amount"), Decimal)
    assert col("stage_orders", o, "created_at") == datetime(2026, 11, 27, 6, 22, 0, 123456)
    assert col("stage_orders", o, "is_deleted") is False
    lines = rows["stage_order_lines"]
    assert [(col("stage_order_lines", r, "line_no"), col("stage_order_lines", r, "sku"),
             col("stage_order_lines", r, "line_amount")) for r in lines] == [
        (1, "SKU-1", Decimal("19.98")), (2, "SKU-2", Decimal("0.01"))]
    assert rows["stage_customers"] == [("c1", datetime(2026, 11, 27, 6, 22, 0, 123456))]
    assert rows["stage_dates"] == [(datetime(2026, 11, 27).date(),)]


def test_remove_is_a_versioned_tombstone_with_the_last_state():
    (ch,) = decode(kinesis_record("Orders", "REMOVE", old=order(version=3, status="CONFIRMED")))
    (o,) = rows_for(ch)["stage_orders"]
    assert col("stage_orders", o, "version") == 4
    assert col("stage_orders", o, "is_deleted") is True
    assert col("stage_orders", o, "status") == "CONFIRMED"


def test_batch_keeps_the_highest_version_per_key_whatever_the_order():
    recs = [kinesis_record("Orders", "MODIFY", order(version=3, status="CONFIRMED")),
            kinesis_record("Orders", "INSERT", order(version=1)),
            kinesis_record("Orders", "MODIFY", order(version=3, status="CONFIRMED")),
            kinesis_record("Orders", "MODIFY", order(version=2))]
    batch = build_batch(decode(*recs))
    (o,) = batch.rows["stage_orders"]
    assert (col("stage_orders", o, "version"), col("stage_orders", o, "status")) == (3, "CONFIRMED")
    assert len(batch.rows["stage_order_lines"]) == 2
    assert not batch.failures


def test_customer_keeps_its_earliest_sighting():
    a = order("o1", CreatedAt="2026-11-27T10:00:00.000000Z")
    b = order("o2", CreatedAt="2026-11-26T10:00:00.000000Z")
    batch = build_batch(decode(kinesis_record("Orders", "INSERT", a), kinesis_record("Orders", "INSERT", b)))
    assert batch.rows["stage_customers"] == [("c1", datetime(2026, 11, 26, 10))]


@pytest.mark.parametrize("bad, reason", [
    ({"TotalAmount": D("1.005")}, "more than two decimals"),
    ({"CreatedAt": "yesterday"}, "ISO-8601"),
    ({"Lines": [{"Sku": "S", "Qty": D("1.5"), "UnitPrice": D(1), "LineAmount": D("1.5")}]}, "not an integer"),
    # 37 integer digits: a valid DynamoDB number that DECIMAL(38,2) cannot hold
    ({"TotalAmount": D("1234567890123456789012345678901234567.5")}, "37 integer digits"),
    ({"Lines": [{"Sku": "S", "Qty": D("1" + "0" * 38), "UnitPrice": D(1), "LineAmount": D(1)}]}, "39 integer digits"),
])
def test_a_change_that_cannot_become_a_row_is_a_failure_with_its_reason(bad, reason):
    good = order("o1")
    broken = order("o2", **bad)
    batch = build_batch(decode(kinesis_record("Orders", "INSERT", good), kinesis_record("Orders", "INSERT", broken)))
    assert [col("stage_orders", r, "order_id") for r in batch.rows["stage_orders"]] == ["o1"]
    ((ch, why),) = batch.failures
    assert ch.key == {"OrderId": "o2"} and reason in why and "Orders#OrderId=o2" in why


def test_money_with_trailing_zeros_is_exact_not_refused():
    batch = build_batch(decode(kinesis_record("Orders", "INSERT", order(TotalAmount=D("19.9900")))))
    assert col("stage_orders", batch.rows["stage_orders"][0], "total_amount") == Decimal("19.99")


def test_every_entity_has_rows():
    recs = [
        kinesis_record("Cart", "INSERT", {"CartId": "k1", "CustomerId": "c1", "Status": "OPEN", "CheckOut": False,
                                          "CartItems": {"A": {"Qty": D(1), "UnitPrice": D(2)}}, "ConflictCount": D(2),
                                          "CreatedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)}),
        kinesis_record("ProductCatalog", "INSERT", {"ProductID": "p1", "TranID": "0", "Name": "Pen", "Category": "x",
                                                    "Price": D("1.50"), "Qty": D(3), "Version": D(1),
                                                    "LastUpdate": "2026-11-27T06:00:00.000000Z"}),
        kinesis_record("ProductCatalog", "INSERT", {"ProductID": "p1", "TranID": "m1", "Action": "ADD", "Qty": D(3),
                                                    "Reason": "INITIAL", "DateTime": "2026-11-27T06:00:00.000000Z",
                                                    "Version": D(1)}),
        kinesis_record("Payments", "INSERT", {"PaymentId": "pay1", "OrderId": "o1", "CustomerId": "c1",
                                              "Amount": D("3.00"), "Status": "CAPTURED",
                                              "CreatedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)}),
        kinesis_record("Transactions", "INSERT", {"TransactionId": "t1", "CustomerId": "c1", "Merchant": "m",
                                                  "Amount": D("3.00"), "PostedAt": "2026-11-27T06:00:00.000000Z",
                                                  "Version": D(1)}),
        kinesis_record("Alerts", "INSERT", {"AlertId": "a1", "TransactionId": "t1", "CustomerId": "c1",
                                            "Rule": "AMOUNT_SPIKE", "Amount": D("3.00"),
                                            "RaisedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)}),
    ]
    batch = build_batch(decode(*recs))
    assert not batch.failures
    assert set(batch.rows) == {"stage_carts", "stage_products", "stage_inventory_movements", "stage_payments",
                               "stage_transactions", "stage_alerts", "stage_customers", "stage_dates"}
    (cart,) = batch.rows["stage_carts"]
    assert (col("stage_carts", cart, "item_count"), col("stage_carts", cart, "conflict_count")) == (1, 2)


def test_micro_batcher_cuts_by_size_and_age():
    now = [0.0]
    mb = MicroBatcher(size=2, interval_s=5, clock=lambda: now[0])
    assert [len(b) for b in mb.add([1, 2, 3])] == [2]  # type: ignore[list-item]
    assert mb.due() is None
    now[0] = 5.0
    assert mb.due() == [3]
    assert list(mb.drain()) == []
    with pytest.raises(ValueError):
        MicroBatcher(size=0, interval_s=1)


# --- the SQL files ---------------------------------------------------------------------------
ALL_SQL = sorted(dialect.SQL_ROOT.rglob("*.sql"))


@pytest.mark.parametrize("path", ALL_SQL, ids=lambda p: str(p.relative_to(dialect.SQL_ROOT)))
def test_every_sql_file_parses_as_redshift_translates_and_says_why(path):
    text = path.read_text()
    head = [ln for ln in text.splitlines()[:8] if ln.startswith("--")]
    assert head, f"{path.name} has no header comment"
    assert any("Grain" in ln for ln in head) and any("Source" in ln for ln in head), path.name
    assert sqlglot.parse(text, read="redshift")
    for stmt in dialect.to_postgres(text, path.name):
        for word in ("DISTKEY", "SORTKEY", "DISTSTYLE", "ENCODE"):
            assert word not in stmt.upper().replace("ENCODED", ""), (path.name, word)


def test_ddl_uses_redshift_physical_design_where_it_matters():
    facts = (dialect.SQL_ROOT / "ddl" / "005_fact_orders.sql").read_text()
    tree = sqlglot.parse_one(facts.split("\n", 3)[3], read="redshift")
    assert tree.find(exp.DistKeyProperty) and tree.find(exp.SortKeyProperty) and tree.find(exp.EncodeColumnConstraint)


def test_staging_ddl_matches_the_row_builder_columns():
    text = (dialect.SQL_ROOT / "ddl" / "012_staging.sql").read_text()
    ddl = {}
    for tree in sqlglot.parse(text, read="redshift"):
        schema = tree.this
        ddl[schema.this.name] = tuple(c.name for c in schema.expressions if isinstance(c, exp.ColumnDef))
    assert ddl == {name: st.columns for name, st in STAGES.items()}


def test_one_merge_file_per_table_and_every_report_named():
    assert {p.stem for p in dialect.sql_files("merge")} == set(MERGES)
    assert {p.stem for p in dialect.sql_files("reports")} == {
        "revenue_per_day", "checkout_funnel", "saga_rollbacks_by_cause", "occ_conflict_rate", "stock_movements",
        "stockouts", "alerts_by_rule", "top_flagged_customers", "top_products"}


def test_unsupported_sql_is_named():
    with pytest.raises(dialect.UnsupportedSql, match="bad.sql"):
        dialect.to_postgres("SELECT FROM WHERE (", "bad.sql")


@pytest.mark.parametrize("path", [p for p in dialect.sql_files("merge") if p.stem.startswith("fact_")],
                         ids=lambda p: p.stem)
def test_fact_merges_are_version_guarded_in_syntax_redshift_accepts(path):
    """Redshift's MERGE has no `WHEN MATCHED AND <condition>` and takes a table as its source, so the
    guard is a DELETE of staged rows not newer than the target, ahead of a plain MERGE."""
    stmts = sqlglot.parse(path.read_text(), read="redshift")
    kinds = [type(s).__name__ for s in stmts]
    assert kinds == ["Delete", "Delete", "Merge"]
    guard = stmts[1].sql("redshift")
    assert f"{path.stem}.version >= stage_" in guard
    merge = stmts[2]
    assert isinstance(merge.args["using"], exp.Table)
    assert "WHEN MATCHED AND" not in merge.sql("redshift").upper()


# --- the fast paths (rows._FAST) build exactly what the checked code builds, or defer to it -------
ODD_VALUES = [
    {}, {"Amount": D("1.500")}, {"Amount": D("1.555")}, {"Amount": D("1E+3")}, {"Amount": D("-0.01")},
    {"Amount": "12.30"}, {"Amount": True}, {"Amount": None}, {"Amount": D("9" * 36 + ".99")},
    {"Amount": D("9" * 37)}, {"CustomerId": None}, {"CustomerId": D(7)}, {"Merchant": "tab\there\\"},
    {"PostedAt": "2026-11-27T08:22:00+02:00"}, {"PostedAt": "2026-11-27T06:22:00"}, {"PostedAt": "yesterday"},
    {"PostedAt": None}, {"PostedAt": D(5)}, {"CreatedAt": "2026-11-27T08:22:00+02:00"}, {"CreatedAt": None},
    {"TotalAmount": D("19.999")}, {"Lines": "x"}, {"Lines": ["x"]}, {"Lines": []}, {"Lines": None},
    {"Lines": [{"Sku": "S", "Qty": D("1.5"), "UnitPrice": D("1"), "LineAmount": D("1.5")}]},
    {"Lines": [{"Sku": "S", "Qty": D("2.0"), "UnitPrice": D("1"), "LineAmount": D("2")}]},
    {"Lines": [{"Sku": D(1), "Qty": D("1E+40"), "UnitPrice": None}]}, {"Lines": [{}]},
    {"Status": D(3)}, {"SagaMode": None},
]


def _outcome(ch):
    try:
        return rows_for(ch)
    except Exception as e:  # noqa: BLE001 - the exception type and message are what is compared
        return (type(e), str(e))


@pytest.mark.parametrize("odd", ODD_VALUES, ids=[repr(o)[:60] for o in ODD_VALUES])
@pytest.mark.parametrize("table,base", [("Transactions", TXN), ("Orders", order())], ids=["txn", "order"])
@pytest.mark.parametrize("op", ["INSERT", "REMOVE"])
def test_fast_path_equals_the_checked_path(monkeypatch, table, base, odd, op):
    from projections.warehouse import rows

    img = {**base, **odd}  # a None becomes a NULL attribute
    rec = kinesis_record(table, op, img) if op == "INSERT" else kinesis_record(table, op, old=img)
    (ch,) = decode(rec)
    fast = _outcome(ch)
    monkeypatch.setattr(rows, "_FAST", {})
    checked = _outcome(ch)
    assert fast == checked
    if isinstance(fast, dict):
        assert list(fast) == list(checked)
        monkeypatch.undo()
        assert build_batch([ch]).rows == checked
