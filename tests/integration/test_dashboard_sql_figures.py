"""The figures a dashboard draws equal the SQL results, on real projected data.

A small command-side history (products, orders confirmed or cancelled, posted transactions, Second
Look alerts; AWS-shaped Kinesis records from tests/factories.py) is projected by the real lake
projector (Parquet on moto's S3 + Glue) and the real warehouse projector (embedded PostgreSQL), each in
its own buckets / Glue database / database. The page is rendered by dashboards.web.build_page for
each engine, opened in headless Chromium, and for revenue_per_day, alerts_by_rule and top_products
the rows the page carries and the numbers plotly drew must equal, exactly as decimals, what
run_athena / run_redshift return for the same .sql files, and what the history says by hand."""
from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cqrs.provision import create_buckets, create_glue_database
from dashboards.definition import load_all
from dashboards.web import build_page
from projections.lake.athena import run_athena
from projections.lake.handler import handle as lake_handle
from projections.lake.store import provision as lake_provision
from projections.warehouse.adapters import PostgresWarehouse
from projections.warehouse.handler import process as warehouse_process
from projections.warehouse.query import run_redshift
from tests.factories import D, kinesis_event, kinesis_record
from tests.integration.dashboard_browser import chromium, drawn_numbers, read_page
from tests.integration.test_warehouse_projector import fresh_db

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PANELS = ("revenue_per_day", "alerts_by_rule", "top_products")
RUNNERS = {"athena": run_athena, "redshift": run_redshift}
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PRICES = {"SKU-A": Decimal("19.99"), "SKU-B": Decimal("5.25"), "SKU-C": Decimal("120.10")}


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def history() -> tuple[list[dict], dict[str, dict]]:
    """Records in commit order, and what the three reports must say, computed here by hand."""
    recs: list[dict] = []
    per_day: dict[str, list] = defaultdict(lambda: [0, Decimal("0.00")])
    products: dict[str, list] = defaultdict(lambda: [0, Decimal("0.00")])
    rules: Counter[str] = Counter()
    for n, (sku, price) in enumerate(PRICES.items()):
        recs.append(kinesis_record("ProductCatalog", "INSERT", {
            "ProductID": sku, "TranID": "0", "Name": f"Product {n}", "Category": "c", "Price": price,
            "Qty": D(100), "LastUpdate": ts(T0), "Version": D(1)}))
    skus = list(PRICES)
    for i in range(9):
        at = T0 + timedelta(hours=11 * i)
        sku, qty = skus[i % 3], 1 + i % 4
        lines = [{"Sku": sku, "Qty": D(qty), "UnitPrice": PRICES[sku], "LineAmount": PRICES[sku] * qty}]
        if i % 2 == 0:
            extra = skus[(i + 1) % 3]
            lines.append({"Sku": extra, "Qty": D(1), "UnitPrice": PRICES[extra], "LineAmount": PRICES[extra]})
        total = sum((ln["LineAmount"] for ln in lines), Decimal("0.00"))
        o1 = {"OrderId": f"o{i}", "CustomerId": f"c{i % 4}", "CartId": f"k{i}", "Status": "PENDING",
              "Lines": lines, "TotalAmount": total, "Currency": "USD", "SagaMode": "orchestration",
              "CreatedAt": ts(at), "UpdatedAt": ts(at), "Version": D(1)}
        recs.append(kinesis_record("Orders", "INSERT", o1))
        if i % 4 == 3:  # the saga cancels every fourth order: no revenue, no transaction
            recs.append(kinesis_record("Orders", "MODIFY", {**o1, "Status": "CANCELLED",
                                                            "CancelReason": "OUT_OF_STOCK", "Version": D(2)}, o1))
            continue
        recs.append(kinesis_record("Orders", "MODIFY", {**o1, "Status": "CONFIRMED", "Version": D(2)}, o1))
        day = per_day[at.date().isoformat()]
        day[0] += 1
        day[1] += total
        for ln in lines:
            products[ln["Sku"]][0] += int(ln["Qty"])
            products[ln["Sku"]][1] += ln["LineAmount"]
        recs.append(kinesis_record("Transactions", "INSERT", {
            "TransactionId": f"t{i}", "CustomerId": f"c{i % 4}", "PaymentId": f"p{i}", "Merchant": "shop",
            "Amount": total, "Currency": "USD", "Country": "US" if i % 3 else "FR", "PostedAt": ts(at),
            "Version": D(1)}))
        if i % 3 == 0 or total > 200:
            rule = "FOREIGN_COUNTRY" if i % 3 == 0 else "AMOUNT_SPIKE"
            rules[rule] += 1
            recs.append(kinesis_record("Alerts", "INSERT", {
                "AlertId": f"a{i}", "TransactionId": f"t{i}", "CustomerId": f"c{i % 4}", "Merchant": "shop",
                "Rule": rule, "Reason": "screened", "Amount": total, "Status": "OPEN", "RaisedAt": ts(at),
                "Version": D(1)}))
    expected = {
        "revenue_per_day": {d: (n, r) for d, (n, r) in per_day.items()},
        "alerts_by_rule": {r: (n,) for r, n in rules.items()},
        "top_products": {s: (u, r) for s, (u, r) in products.items()},
    }
    return recs, expected


@pytest.fixture(scope="module")
def projected(local_stack):
    tag = uuid.uuid4().hex[:8]
    s = local_stack.with_(lake_bucket=f"dashsql-{tag}", failures_bucket=f"dashsql-f-{tag}",
                          glue_database=f"dashsql_{tag}")
    create_buckets(s)
    create_glue_database(s)
    lake_provision(s)
    s = s.with_(warehouse_dsn=fresh_db(s))
    recs, expected = history()
    for i in range(0, len(recs), 20):
        batch = kinesis_event(recs[i:i + 20])
        assert lake_handle(batch, None, settings=s) == {"batchItemFailures": []}
        assert warehouse_process(batch, warehouse=PostgresWarehouse(s.warehouse_dsn), s3=s.boto3_client("s3"),
                                 settings=s) == {"batchItemFailures": []}
    return s, expected


def _exact(v) -> str:
    """The exact text of a SQL value as the page must carry it."""
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _key(v) -> str:
    return _exact(v)[:10] if hasattr(v, "isoformat") else str(v)


@pytest.mark.parametrize("engine", sorted(RUNNERS))
def test_drawn_figures_equal_the_sql_results(projected, engine):
    s, expected = projected
    boards = load_all()
    specs = {p.id: p for b in boards for p in b.panels}
    page = s.state_dir / f"dashboard-sql-{engine}-{uuid.uuid4().hex[:6]}.html"
    page.write_text(build_page(s, engine, None, None, None, refresh=0, live=False))
    driver = chromium()
    try:
        panels, errors = read_page(driver, page.as_uri(), f"dashboard-sql-{engine}.png")
    finally:
        driver.quit()
        page.unlink()
    assert errors == []
    shown = {p["id"]: p for p in panels}

    for pid in PANELS:
        panel, spec = shown[pid], specs[pid]
        cols, rows = RUNNERS[engine](s, spec.query_file(engine).read_text())
        cols = list(cols)
        assert panel["state"] == "ok", f"{engine}/{pid}: {panel['state']} {panel['error']}"
        assert rows, f"{engine}/{pid}: the SQL answered nothing"

        # 1. the exact rows the page carries are the SQL's, value for value, as text
        assert panel["rows"]["columns"] == cols
        assert [[str(v) for v in r] for r in panel["rows"]["rows"]] == [[_exact(v) for v in r] for r in rows]

        # 2. the numbers plotly drew are the SQL's numbers (floats back to decimals via their repr)
        bound = [y["column"] for y in spec.spec["y"]]
        want = sorted(Decimal(str(r[cols.index(c)])) for r in rows for c in bound)
        got = sorted(Decimal(repr(float(v))) for v in drawn_numbers(panel))
        assert got == want, f"{engine}/{pid}: drew {got}, SQL says {want}"

        # 3. and the SQL says what the history says (so the page and SQL cannot agree on a wrong answer)
        xcol = spec.spec["x"]["column"]
        by_key = {_key(r[cols.index(xcol)]): tuple(Decimal(str(r[cols.index(c)]))
                                                   for c in cols if c != xcol) for r in rows}
        assert by_key == {k: tuple(Decimal(v) for v in vals) for k, vals in expected[pid].items()}, pid
