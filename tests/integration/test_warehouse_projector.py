"""The warehouse projector against the real local warehouse (embedded PostgreSQL running the
translated redshift_sql/): duplicates, reordering, deletes and retried batches end in the state of
the highest version; price changes show in dim_product's history; refused records are isolated and
reported. Each test gets its own database on the stack's PostgreSQL, so the stack's own runner
(which projects whatever other tests write) cannot touch it."""
from __future__ import annotations

import random
import uuid
from datetime import datetime as dt
from decimal import Decimal

import orjson
import psycopg
import pytest

from cqrs.settings import Settings
from projections.warehouse.adapters import PostgresWarehouse
from projections.warehouse.handler import process
from projections.warehouse.query import report_sql, run_cli
from projections.warehouse.rows import STAGES
from tests.factories import D, kinesis_event, kinesis_record

FACTS = ("fact_orders", "fact_order_lines", "fact_payments", "fact_inventory_movements", "fact_transactions",
         "fact_alerts", "fact_carts", "dim_product", "product_versions", "dim_customer", "dim_date")


def fresh_db(settings: Settings) -> str:
    name = f"wh_{uuid.uuid4().hex[:10]}"
    admin = settings.warehouse_dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'create database "{name}"')  # our own generated name
    dsn = settings.warehouse_dsn.rsplit("/", 1)[0] + "/" + name
    PostgresWarehouse(dsn).create_schema()
    return dsn


@pytest.fixture
def wh(local_stack: Settings):
    dsn = fresh_db(local_stack)
    return local_stack.with_(warehouse_dsn=dsn), PostgresWarehouse(dsn)


def run(settings: Settings, warehouse, records, batch_size: int = 5000) -> dict:
    s3 = settings.boto3_client("s3")
    return process(kinesis_event(records), warehouse=warehouse, s3=s3,
                   settings=settings.with_(warehouse_batch_size=batch_size))


def dump(warehouse: PostgresWarehouse) -> dict[str, list[tuple]]:
    out = {}
    for t in FACTS:
        _, rows = warehouse.query(f"SELECT * FROM {t} ORDER BY 1, 2")
        out[t] = rows
    return out


def order(oid, version, status="PENDING", customer="c1", total="19.99", reason=None, day="27"):
    img = {"OrderId": oid, "CustomerId": customer, "CartId": f"k-{oid}", "Status": status,
           "Lines": [{"Sku": "SKU-1", "Qty": D(2), "UnitPrice": D("9.99"), "LineAmount": D("19.98")},
                     {"Sku": "SKU-2", "Qty": D(1), "UnitPrice": D("0.01"), "LineAmount": D("0.01")}],
           "TotalAmount": D(total), "Currency": "USD", "SagaMode": "orchestration",
           "CreatedAt": f"2026-11-{day}T06:22:00.123456Z", "UpdatedAt": f"2026-11-{day}T06:23:00.000000Z",
           "Version": D(version)}
    if customer is None:
        del img["CustomerId"]
    if reason:
        img["CancelReason"] = reason
    return img


def history():
    """A realistic little history: orders confirmed and cancelled, one deleted, a cart, alerts."""
    recs = []
    for i in range(1, 6):
        recs.append(kinesis_record("Orders", "INSERT", order(f"o{i}", 1)))
        final = "CONFIRMED" if i % 2 else "CANCELLED"
        recs.append(kinesis_record("Orders", "MODIFY", order(f"o{i}", 2, final, reason=None if i % 2 else "OUT_OF_STOCK"),
                                   order(f"o{i}", 1)))
    recs.append(kinesis_record("Orders", "REMOVE", old=order("o5", 2, "CONFIRMED")))
    cart = {"CartId": "k1", "CustomerId": "c1", "Status": "OPEN", "CheckOut": False, "CartItems": {},
            "ConflictCount": D(0), "CreatedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)}
    recs.append(kinesis_record("Cart", "INSERT", cart))
    recs.append(kinesis_record("Cart", "MODIFY", {**cart, "Status": "CHECKED_OUT", "CheckOut": True,
                                                   "ConflictCount": D(1), "Version": D(2)}, cart))
    for n, rule in enumerate(["AMOUNT_SPIKE", "AMOUNT_SPIKE", "FOREIGN_COUNTRY"]):
        recs.append(kinesis_record("Alerts", "INSERT", {
            "AlertId": f"a{n}", "TransactionId": f"t{n}", "CustomerId": f"c{n % 2}", "Merchant": "m", "Rule": rule,
            "Reason": "r", "Amount": D("100.10"), "Status": "OPEN", "RaisedAt": "2026-11-27T07:00:00.000000Z",
            "Version": D(1)}))
    return recs


def test_duplicates_reordering_deletes_and_retries_end_in_the_highest_version(wh, local_stack):
    settings, warehouse = wh
    recs = history()
    assert run(settings, warehouse, recs) == {"batchItemFailures": []}
    expected = dump(warehouse)

    # the expected state, checked by hand on a few rows
    orders = {r[0]: r for r in expected["fact_orders"]}
    assert orders["o1"][3] == "CONFIRMED" and orders["o1"][10] == 2 and orders["o1"][11] is False
    assert orders["o2"][3] == "CANCELLED" and orders["o2"][6] == "OUT_OF_STOCK"
    assert orders["o5"][10] == 3 and orders["o5"][11] is True  # tombstone: version 2 + 1, last state kept
    assert orders["o1"][4] == Decimal("19.99")
    assert [r[9] for r in expected["fact_carts"]] == [False] and expected["fact_carts"][0][3] is True

    # same changes, shuffled, duplicated, in micro-batches of 3, the whole thing delivered twice
    other_settings, other = wh[0].with_(warehouse_dsn=fresh_db(local_stack)), None
    other = PostgresWarehouse(other_settings.warehouse_dsn)
    chaos = recs + random.Random(7).sample(recs, len(recs) // 2)
    random.Random(11).shuffle(chaos)
    assert run(other_settings, other, chaos, batch_size=3) == {"batchItemFailures": []}
    assert run(other_settings, other, chaos, batch_size=4) == {"batchItemFailures": []}  # a retried delivery
    assert dump(other) == expected

    # an old version arriving late changes nothing
    assert run(other_settings, other, [kinesis_record("Orders", "INSERT", order("o1", 1))]) == {"batchItemFailures": []}
    assert dump(other) == expected
    # staging is empty at rest
    for t in STAGES:
        assert other.query(f"SELECT COUNT(*) FROM {t}")[1] == [(0,)]


def product(version, price="10.00", name="Pen", qty=5, category="office", minute=0):
    return {"ProductID": "p1", "TranID": "0", "Name": name, "Category": category, "Price": D(price),
            "Qty": D(qty), "LastUpdate": f"2026-11-27T08:{minute:02d}:00.000000Z", "Version": D(version)}


def test_price_changes_show_in_dim_product_history_even_out_of_order(wh):
    settings, warehouse = wh
    versions = [product(1, minute=1), product(2, qty=4, minute=2), product(3, price="12.50", qty=4, minute=3),
                product(4, price="12.50", name="Pen Pro", qty=0, minute=4)]
    for v in (versions[3], versions[0], versions[2], versions[1]):  # one batch each, out of order
        assert run(settings, warehouse, [kinesis_record("ProductCatalog", "MODIFY", v)]) == {"batchItemFailures": []}
    _, rows = warehouse.query("SELECT version, name, price, valid_from, valid_to, is_current, qty FROM dim_product "
                              "WHERE product_id = 'p1' ORDER BY version")
    assert rows == [
        (1, "Pen", Decimal("10.00"), dt(2026, 11, 27, 8, 1), dt(2026, 11, 27, 8, 3), False, 0),
        (3, "Pen", Decimal("12.50"), dt(2026, 11, 27, 8, 3), dt(2026, 11, 27, 8, 4), False, 0),
        (4, "Pen Pro", Decimal("12.50"), dt(2026, 11, 27, 8, 4), None, True, 0),
    ]
    cols, out = warehouse.query(report_sql("stockouts"))
    assert cols == ["product_id", "name", "qty"] and out == [("p1", "Pen Pro", 0)]


def test_a_refused_record_is_isolated_by_bisection_and_reported(wh):
    settings, warehouse = wh
    recs = [kinesis_record("Orders", "INSERT", order(f"o{i}", 1)) for i in range(7)]
    bad = kinesis_record("Orders", "INSERT", order("o-bad", 1, customer=None))  # fact_orders.customer_id NOT NULL
    undecodable = {"kinesis": {"sequenceNumber": "999", "data": "bm90IGpzb24="}, "eventSource": "aws:kinesis"}
    recs.insert(3, bad)
    recs.append(undecodable)
    result = run(settings, warehouse, recs)
    bad_seq = bad["kinesis"]["sequenceNumber"]
    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} == {bad_seq, "999"}
    assert warehouse.query("SELECT COUNT(*) FROM fact_orders")[1] == [(7,)]
    assert warehouse.query("SELECT COUNT(*) FROM fact_order_lines")[1] == [(14,)]

    s3 = settings.boto3_client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.failures_bucket, Prefix="warehouse/")["Contents"]]
    report = next(orjson.loads(s3.get_object(Bucket=settings.failures_bucket, Key=k)["Body"].read())
                  for k in keys if k.endswith(f"/{bad_seq}.json"))
    assert "customer_id" in report["reason"] and "Orders#OrderId=o-bad" in report["reason"]
    assert report["record"] == bad and report["change"]["key"] == {"OrderId": "o-bad"}
    undec = next(orjson.loads(s3.get_object(Bucket=settings.failures_bucket, Key=k)["Body"].read())
                 for k in keys if k.endswith("/999.json"))
    assert undec["reason"].startswith("undecodable record")


def test_an_unreachable_warehouse_means_retry_everything_and_nothing_is_sent_away(local_stack):
    # a real fault: nothing listens on port 1
    settings = local_stack.with_(warehouse_dsn="postgresql://postgres@127.0.0.1:1/warehouse")
    recs = [kinesis_record("Orders", "INSERT", order(f"x{i}", 1)) for i in range(3)]
    result = run(settings, PostgresWarehouse(settings.warehouse_dsn), recs)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(
        r["kinesis"]["sequenceNumber"] for r in recs)


def test_every_report_runs_locally_and_the_cli_prints_it(wh, capsys):
    settings, warehouse = wh
    assert run(settings, warehouse, history()) == {"batchItemFailures": []}
    from projections.warehouse.dialect import sql_files

    for path in sql_files("reports"):
        assert run_cli(settings, path.read_text(), as_json=True) == 0, path.name
    capsys.readouterr()
    assert run_cli(settings, (sql_files("reports")[0].parent / "revenue_per_day.sql").read_text(), True) == 0
    assert orjson.loads(capsys.readouterr().out) == [{"day": "2026-11-27", "orders": 2, "revenue": "39.98"}]
    assert run_cli(settings, "SELECT rule, COUNT(*) AS alerts FROM fact_alerts GROUP BY rule ORDER BY rule", False) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rule", "alerts"] and lines[2].split() == ["AMOUNT_SPIKE", "2"]
    assert run_cli(settings, "SELEC nonsense", False) != 0


def test_concurrent_loads_sharing_dimension_keys_all_apply(wh):
    # two shards' batches at once, both naming customer c1 and the same day (dim_customer, dim_date)
    from concurrent.futures import ThreadPoolExecutor

    settings, warehouse = wh
    shards = [[kinesis_record("Orders", "INSERT", order(f"s{n}-{i}", 1)) for i in range(20)] for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda recs: run(settings, PostgresWarehouse(settings.warehouse_dsn), recs,
                                                 batch_size=5), shards))
    assert results == [{"batchItemFailures": []}] * 4
    assert warehouse.query("SELECT COUNT(*) FROM fact_orders")[1] == [(80,)]
    assert warehouse.query("SELECT customer_id FROM dim_customer")[1] == [("c1",)]
