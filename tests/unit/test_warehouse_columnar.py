"""The warehouse's columnar fast path builds exactly the rows of the per-event path
(rows.build_batch over decode_lambda_event), or declines the batch (None) so that path decides."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from bench.events import kinesis_event as bench_event
from ingestion.change_event import decode_lambda_event
from projections.warehouse import columnar
from projections.warehouse.rows import STAGES, build_batch
from tests.factories import ORDER, TXN, D, kinesis_event, kinesis_record


def same_rows(event) -> None:
    staged = columnar.stage(event)
    assert staged is not None
    want = build_batch(decode_lambda_event(event).events)
    assert set(staged.tables) == set(want.rows)
    for name, table in staged.tables.items():
        assert list(table.column_names) == list(STAGES[name].columns)
        got = sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)
        assert got == sorted(want.rows[name], key=repr), name


def test_a_bench_batch_gives_the_per_event_rows_exactly():
    same_rows(bench_event(1500, seed=3))  # 22-digit amounts, MODIFYs with old images, duplicate customers


def test_versions_ties_removals_and_nulls_dedupe_as_build_batch_does():
    recs = [kinesis_record("Orders", "INSERT", ORDER),
            kinesis_record("Orders", "MODIFY", {**ORDER, "Status": "CONFIRMED", "Version": D(3),
                                                "Lines": ORDER["Lines"][:1]}, ORDER),
            kinesis_record("Orders", "MODIFY", {**ORDER, "Status": "X", "Version": D(2)}, ORDER),  # stale
            kinesis_record("Transactions", "INSERT", TXN),
            kinesis_record("Transactions", "INSERT", {**TXN, "Merchant": "tie, later wins"}),
            kinesis_record("Transactions", "REMOVE", old={**{k: v for k, v in TXN.items() if k != "CustomerId"},
                                                          "TransactionId": "t2", "Merchant": "", "Amount": D("-0.5")}),
            kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "t3", "Merchant": 'quote " tab\t\\ nl\n',
                                                      "PostedAt": "2026-11-26T23:59:59.9Z", "CustomerId": "c1"})]
    same_rows(kinesis_event(recs))


@pytest.mark.parametrize("odd", [
    {"Amount": D("1.500")}, {"Amount": D("1.555")}, {"Amount": D("1E+3")}, {"Amount": "12.30"}, {"Amount": None},
    {"Amount": D("9" * 37)}, {"PostedAt": "2026-11-27T08:22:00+02:00"}, {"PostedAt": "2026-11-27T06:22:00"},
    {"PostedAt": "2026-02-30T06:22:00Z"}, {"PostedAt": "yesterday"}, {"CustomerId": D(7)}, {"Notes": "new attribute"},
    {"CustomerId": None}, {"PostedAt": "2026-11-27T06:22:00Z"},
    {"Version": D("1.5")}])
def test_anything_not_plain_declines_the_whole_batch(odd):
    event = kinesis_event([kinesis_record("Orders", "INSERT", ORDER), kinesis_record("Transactions", "INSERT", {**TXN, **odd})])
    assert columnar.stage(event) is None


def test_other_tables_and_odd_lines_decline():
    cart = {"CartId": "k1", "CustomerId": "c1", "Status": "OPEN", "CartItems": {}, "Version": D(1)}
    assert columnar.stage(kinesis_event([kinesis_record("Cart", "INSERT", cart)])) is None
    for lines in (["x"], [{"Sku": "S", "Qty": D("1.5")}], [{"Sku": "S", "Qty": D(1), "Note": "n"}], "x"):
        assert columnar.stage(kinesis_event([kinesis_record("Orders", "INSERT", {**ORDER, "Lines": lines})])) is None


def test_csv_reads_back_as_the_same_values():
    event = kinesis_event([kinesis_record("Transactions", "INSERT", {**TXN, "Merchant": 'a "b",\tc\\\nd', "PaymentId": ""}),
                           kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "t2",
                                                                     "Amount": D("123456789012345678901234567890123456.78")})])
    staged = columnar.stage(event)
    rows = list(csv.reader(io.StringIO(staged.csv()["stage_transactions"].decode())))
    by_id = {r[0]: r for r in rows}
    assert by_id["t1"][3] == 'a "b",\tc\\\nd' and by_id["t1"][2] == ""  # quoted: an empty string, not NULL
    assert by_id["t2"][2] == "" and Decimal(by_id["t2"][4]) == Decimal("123456789012345678901234567890123456.78")
    assert by_id["t1"][7] == "2026-11-27 06:22:00.500000" and by_id["t1"][9] == "false"
    raw = staged.csv()["stage_transactions"].decode()
    assert ',"",' in raw and ',,' in raw  # "" is the empty PaymentId, an unquoted empty field is NULL (t2's)


def test_text_beyond_ascii_gives_the_per_event_rows_exactly():
    same_rows(kinesis_event([kinesis_record("Transactions", "INSERT", {**TXN, "Merchant": "Café Zoë ✓ 🚀"}),
                             kinesis_record("Orders", "INSERT", {**ORDER, "CustomerId": "Jürgen ü"})]))
