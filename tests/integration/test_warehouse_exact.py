"""Exact numbers end to end in the warehouse: DynamoDB numbers of up to 38 digits, held by the lake
as decimal128(38, s), land in the warehouse's DECIMAL(38,2) / DECIMAL(38,0) columns and read back
from the real local PostgreSQL unchanged; a value that still cannot fit is refused per record, with
its reason in the failures bucket, while the rest of the batch is applied."""
from __future__ import annotations

from decimal import Decimal

import orjson

from projections.warehouse.query import report_sql
from tests.factories import D, kinesis_record
from tests.integration.test_warehouse_projector import order, run, wh  # noqa: F401  (wh: fixture)

TOTAL = Decimal("12345678901234567890123456789012345.67")  # 37 digits
BIGGEST = Decimal("999999999999999999999999999999999999.99")  # 38 digits, scale 2: the most DECIMAL(38,2) holds
TXN = Decimal("123456789012345678901234567890123456.78")  # 36 integer digits
QTY = Decimal("9" * 38)  # the biggest DECIMAL(38,0)


def huge_order(oid: str, total: Decimal, day: str) -> dict:
    return {**order(oid, 1, "CONFIRMED", total=str(total), day=day),
            "Lines": [{"Sku": "SKU-BIG", "Qty": QTY, "UnitPrice": BIGGEST, "LineAmount": BIGGEST}]}


def txn(tid: str, amount: Decimal) -> dict:
    return {"TransactionId": tid, "CustomerId": "c-big", "PaymentId": "p1", "Merchant": "m", "Amount": amount,
            "Currency": "USD", "Country": "US", "PostedAt": "2026-11-27T07:00:00.000000Z", "Version": D(1)}


def failure_report(settings, seq: str) -> dict:
    s3 = settings.boto3_client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.failures_bucket, Prefix="warehouse/")["Contents"]]
    (key,) = [k for k in keys if k.endswith(f"/{seq}.json")]
    return orjson.loads(s3.get_object(Bucket=settings.failures_bucket, Key=key)["Body"].read())


def test_38_digit_amounts_read_back_exactly_and_misfits_are_refused_per_record(wh):  # noqa: F811
    settings, warehouse = wh
    too_long = kinesis_record("Transactions", "INSERT",  # 37 integer digits: valid in DynamoDB, not in DECIMAL(38,2)
                              txn("t-long", Decimal("1234567890123456789012345678901234567.5")))
    too_fine = kinesis_record("Transactions", "INSERT", txn("t-fine", Decimal("1.005")))  # 3 decimals: never rounded
    recs = [kinesis_record("Orders", "INSERT", huge_order("o-big", TOTAL, "27")),
            kinesis_record("Orders", "INSERT", huge_order("o-max", BIGGEST, "26")),
            too_long,
            kinesis_record("Transactions", "INSERT", txn("t-big", TXN)),
            too_fine,
            kinesis_record("ProductCatalog", "INSERT", {
                "ProductID": "p-big", "TranID": "0", "Name": "Big", "Category": "c", "Price": BIGGEST, "Qty": QTY,
                "LastUpdate": "2026-11-27T07:00:00.000000Z", "Version": D(1)})]
    result = run(settings, warehouse, recs)

    refused = {too_long["kinesis"]["sequenceNumber"], too_fine["kinesis"]["sequenceNumber"]}
    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} == refused
    long_report = failure_report(settings, too_long["kinesis"]["sequenceNumber"])
    assert "37 integer digits" in long_report["reason"] and "DECIMAL(38,2)" in long_report["reason"]
    assert long_report["change"]["newImage"]["Amount"] == "1234567890123456789012345678901234567.5"
    assert "more than two decimals" in failure_report(settings, too_fine["kinesis"]["sequenceNumber"])["reason"]

    # read back from PostgreSQL: the same Decimals, not one digit lost
    _, orders = warehouse.query("SELECT order_id, total_amount FROM orders ORDER BY order_id")
    assert orders == [("o-big", TOTAL), ("o-max", BIGGEST)]
    assert all(isinstance(v, Decimal) for _, v in orders)
    _, lines = warehouse.query("SELECT order_id, qty, unit_price, line_amount FROM order_lines ORDER BY order_id")
    assert lines == [("o-big", QTY, BIGGEST, BIGGEST), ("o-max", QTY, BIGGEST, BIGGEST)]
    _, txns = warehouse.query("SELECT transaction_id, amount FROM fact_transactions ORDER BY transaction_id")
    assert txns == [("t-big", TXN)]
    assert str(txns[0][1]) == "123456789012345678901234567890123456.78"
    _, products = warehouse.query("SELECT price, qty FROM dim_product WHERE product_id = 'p-big'")
    assert products == [(BIGGEST, QTY)]

    # reports carry them exactly (one order a day, so each day's revenue is that order's 38-digit total)
    _, revenue = warehouse.query(report_sql("revenue_per_day"))
    assert sorted((str(r[0]), r[1], r[2]) for r in revenue) == [("2026-11-26", 1, BIGGEST), ("2026-11-27", 1, TOTAL)]
