"""One truth: the same changes projected to the lake (projections.lake.handler) and to the
warehouse (projections.warehouse.handler), each delivered at least once in its own shuffled order
and batch sizes, answer every report that exists on both sides with exactly the same rows."""
from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cqrs.provision import create_buckets, create_glue_database
from projections.lake.handler import handle as lake_handle
from projections.lake.store import provision as lake_provision
from projections.warehouse.adapters import PostgresWarehouse
from projections.warehouse.demo import demo_step
from projections.warehouse.handler import process
from projections.warehouse.onetruth import compare, shared_reports
from tests.factories import D, kinesis_event, kinesis_record
from tests.integration.test_warehouse_projector import fresh_db

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SKUS = [f"SKU-{i}" for i in range(6)]
PRICES = {s: Decimal(f"{3 + i}.{(i * 37) % 100:02d}") for i, s in enumerate(SKUS)}


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def history(seed: int = 3) -> list[dict]:
    """A command-side history in commit order: carts (conflicts, checkouts, abandonment, TTL expiry),
    orders confirmed or cancelled by the saga (one deleted), stock movements and product price
    changes (some products sold out), posted transactions and Second Look alerts."""
    rnd = random.Random(seed)
    recs: list[dict] = []
    for p, sku in enumerate(SKUS):
        base = {"ProductID": sku, "TranID": "0", "Name": f"Product {p}", "Category": "cat" + str(p % 2),
                "Price": PRICES[sku], "Qty": D(10), "LastUpdate": ts(T0), "Version": D(1)}
        recs.append(kinesis_record("ProductCatalog", "INSERT", base))
        recs.append(kinesis_record("ProductCatalog", "INSERT", {
            "ProductID": sku, "TranID": f"m-{sku}-0", "Action": "ADD", "Qty": D(10), "Reason": "INITIAL",
            "DateTime": ts(T0), "Version": D(1)}))
        final = {**base, "Price": PRICES[sku] + Decimal("1.10"), "Qty": D(0 if p % 3 == 0 else 4),
                 "LastUpdate": ts(T0 + timedelta(days=1)), "Version": D(2)}
        recs.append(kinesis_record("ProductCatalog", "MODIFY", final, base))
    for i in range(40):
        at = T0 + timedelta(hours=7 * i)
        cust = f"c{i % 7}"
        cart = {"CartId": f"k{i}", "CustomerId": cust, "Status": "OPEN", "CheckOut": False,
                "CartItems": {SKUS[i % 6]: {"Qty": D(1 + i % 3), "UnitPrice": PRICES[SKUS[i % 6]]}},
                "ConflictCount": D(0), "CreatedAt": ts(at), "UpdatedAt": ts(at), "Version": D(1)}
        recs.append(kinesis_record("Cart", "INSERT", cart))
        fate = i % 5
        if fate == 4:  # abandoned, half of them later expired by TTL
            gone = {**cart, "Status": "ABANDONED", "Version": D(2)}
            recs.append(kinesis_record("Cart", "MODIFY", gone, cart))
            if i % 10 == 4:
                recs.append(kinesis_record("Cart", "REMOVE", old=gone, ttl=True))
            continue
        done = {**cart, "Status": "CHECKED_OUT", "CheckOut": True, "ConflictCount": D(i % 3),
                "Version": D(2 + i % 3), "UpdatedAt": ts(at + timedelta(minutes=1))}
        recs.append(kinesis_record("Cart", "MODIFY", done, cart))
        qty = 1 + i % 3
        sku = SKUS[i % 6]
        lines = [{"Sku": sku, "Qty": D(qty), "UnitPrice": PRICES[sku], "LineAmount": PRICES[sku] * qty}]
        if i % 4 == 0:
            lines.append({"Sku": SKUS[(i + 1) % 6], "Qty": D(1), "UnitPrice": PRICES[SKUS[(i + 1) % 6]],
                          "LineAmount": PRICES[SKUS[(i + 1) % 6]]})
        o1 = {"OrderId": f"o{i}", "CustomerId": cust, "CartId": f"k{i}", "Status": "PENDING", "Lines": lines,
              "TotalAmount": sum((ln["LineAmount"] for ln in lines), Decimal("0.00")), "Currency": "USD",
              "SagaMode": rnd.choice(["choreography", "orchestration"]), "CreatedAt": ts(at), "UpdatedAt": ts(at),
              "Version": D(1)}
        recs.append(kinesis_record("Orders", "INSERT", o1))
        if fate == 3:
            o2 = {**o1, "Status": "CANCELLED", "CancelReason": rnd.choice(["OUT_OF_STOCK", "PAYMENT_DECLINED",
                                                                          "TIMEOUT"]), "Version": D(2)}
        else:
            o2 = {**o1, "Status": "CONFIRMED", "Version": D(2)}
            recs.append(kinesis_record("ProductCatalog", "INSERT", {
                "ProductID": sku, "TranID": f"m-o{i}", "Action": "SUB", "Qty": D(qty), "Reason": "ORDER",
                "OrderId": f"o{i}", "DateTime": ts(at), "Version": D(1)}))
            t = {"TransactionId": f"t{i}", "CustomerId": cust, "PaymentId": f"p{i}", "Merchant": "shop",
                 "Amount": o1["TotalAmount"], "Currency": "USD", "Country": "US" if i % 6 else "FR",
                 "PostedAt": ts(at), "Version": D(1)}
            recs.append(kinesis_record("Transactions", "INSERT", t))
            if i % 3 == 0 or i % 6 == 0:
                recs.append(kinesis_record("Alerts", "INSERT", {
                    "AlertId": f"a{i}", "TransactionId": f"t{i}", "CustomerId": cust, "Merchant": "shop",
                    "Rule": "FOREIGN_COUNTRY" if i % 6 == 0 else "AMOUNT_SPIKE", "Reason": "screened",
                    "Amount": o1["TotalAmount"], "Status": "OPEN", "RaisedAt": ts(at), "Version": D(1)}))
        recs.append(kinesis_record("Orders", "MODIFY", o2, o1))
        if i == 7:
            recs.append(kinesis_record("Orders", "REMOVE", old=o2))
    return recs


def deliveries(recs: list[dict], seed: int, size: int) -> list[list[dict]]:
    """At-least-once: a third delivered twice, everything shuffled, cut into batches."""
    rnd = random.Random(seed)
    out = recs + rnd.sample(recs, len(recs) // 3)
    rnd.shuffle(out)
    return [out[i:i + size] for i in range(0, len(out), size)]


@pytest.fixture(scope="module")
def both(local_stack):
    tag = uuid.uuid4().hex[:8]
    s = local_stack.with_(lake_bucket=f"onetruth-{tag}", failures_bucket=f"onetruth-f-{tag}",
                          glue_database=f"onetruth_{tag}")
    create_buckets(s)
    create_glue_database(s)
    lake_provision(s)
    s = s.with_(warehouse_dsn=fresh_db(s))
    recs = history()
    for batch in deliveries(recs, seed=1, size=60):
        assert lake_handle(kinesis_event(batch), None, settings=s) == {"batchItemFailures": []}
    wh = PostgresWarehouse(s.warehouse_dsn)
    s3 = s.boto3_client("s3")
    for batch in deliveries(recs, seed=2, size=45):
        assert process(kinesis_event(batch), warehouse=wh, s3=s3,
                       settings=s.with_(warehouse_batch_size=25)) == {"batchItemFailures": []}
    return s


def test_every_report_exists_on_both_sides():
    assert shared_reports() == sorted(["revenue_per_day", "checkout_funnel", "saga_rollbacks_by_cause",
                                       "occ_conflict_rate", "stock_movements", "stockouts", "alerts_by_rule",
                                       "top_flagged_customers", "top_products"])


@pytest.mark.parametrize("report", shared_reports())
def test_lake_and_warehouse_agree_exactly(both, report):
    (c,) = compare(both, both, [report])
    wh_cols, wh_rows = c.normalised(c.warehouse)
    lk_cols, lk_rows = c.normalised(c.lake)
    assert wh_rows, f"{report}: the warehouse answered nothing; the test data must exercise every report"
    assert (wh_cols, wh_rows) == (lk_cols, lk_rows)


def test_a_report_that_differs_is_told(both):
    # the comparison can fail: the warehouse's answer against a lake query over different data
    (c,) = compare(both, both, ["alerts_by_rule"],
                   run_athena=lambda s, sql: (["rule", "alerts"], [("AMOUNT_SPIKE", 1)]))
    assert not c.agree


def test_demo_step_prints_both_sides_and_the_verdict(both, capsys):
    demo_step(both, None)
    out = capsys.readouterr().out
    assert "warehouse (redshift_sql/reports/revenue_per_day.sql)" in out and "lake (athena_sql" in out
    n = len(shared_reports())
    assert f"one truth: {n} of {n} reports agree exactly" in out
