"""The columnar staging (Arrow tables -> CSV -> COPY ... FORMAT csv) lands the same warehouse as the
per-event rows (psycopg's COPY of Python values), on the real local PostgreSQL: 22-digit money,
timestamps, NULLs vs empty strings, quotes, tabs, backslashes and newlines, removals and versions."""
from __future__ import annotations

from bench.events import kinesis_event as bench_event
from ingestion.change_event import decode_lambda_event
from projections.warehouse import columnar
from projections.warehouse.adapters import PostgresWarehouse
from projections.warehouse.rows import Batch, build_batch
from tests.factories import D, kinesis_event, kinesis_record
from tests.integration.test_warehouse_projector import FACTS, fresh_db


def snapshot(w: PostgresWarehouse) -> dict[str, list[tuple]]:
    return {t: w.query(f"SELECT * FROM {t} ORDER BY 1, 2")[1] for t in FACTS}


def test_columnar_copy_lands_exactly_what_the_row_copy_lands(local_stack):
    odd = {"TransactionId": "t-odd", "CustomerId": "c-odd", "PaymentId": "", "Merchant": 'q " t\t b\\ n\n ,',
           "Amount": D("123456789012345678901234567890123456.78"), "Currency": "USD", "Country": "US",
           "PostedAt": "2026-11-27T06:22:00.5Z", "Version": D(4)}
    event = bench_event(400, seed=9)
    event["Records"] += kinesis_event([kinesis_record("Transactions", "INSERT", odd),
                                       kinesis_record("Transactions", "REMOVE", old={**odd, "Version": D(5)})])["Records"]
    staged = columnar.stage(event)
    assert staged is not None
    by_rows, by_csv = PostgresWarehouse(fresh_db(local_stack)), PostgresWarehouse(fresh_db(local_stack))
    by_rows.apply(build_batch(decode_lambda_event(event).events))
    by_csv.apply(Batch(arrow=staged.tables))
    want, got = snapshot(by_rows), snapshot(by_csv)
    assert sum(map(len, want.values())) > 1000
    assert got == want
    (row,) = [r for r in got["fact_transactions"] if r[0] == "t-odd"]
    assert 'q " t\t b\\ n\n ,' in row and "" in row  # the empty PaymentId stayed an empty string


def test_project_applies_in_micro_batches_or_hands_over_to_the_per_event_path(local_stack):
    from projections.warehouse.adapters import TransientLoadError
    from projections.warehouse.projector import project

    event = bench_event(300, seed=4)
    fast, slow = PostgresWarehouse(fresh_db(local_stack)), PostgresWarehouse(fresh_db(local_stack))
    out = columnar.project(fast, event, "", batch_size=120)
    assert out is not None and (out.applied, out.loads) == (300, 3)
    project(slow, decode_lambda_event(event).events, 120, 5.0)
    assert snapshot(fast) == snapshot(slow)

    class Down:  # DELIBERATE FAULT STUB: a warehouse outage cannot be provoked on demand here
        def apply(self, batch):
            raise TransientLoadError("injected outage")

    assert columnar.project(Down(), event, "", batch_size=120) is None  # the per-event path reports retries
    odd = kinesis_event([kinesis_record("Transactions", "INSERT", {"TransactionId": "t", "Amount": D("1.555"),
                                                                   "Version": D(1)})])
    assert columnar.project(fast, odd, "", batch_size=120) is None  # it names the refused record
