"""Every file of athena_sql/ parses in the Athena dialect, has its header, and translates to DuckDB;
the handler's object names are stable for a retried batch."""
from __future__ import annotations

import pytest
import sqlglot

from projections.lake.athena import SQL_ROOT, AthenaSqlError, translate
from projections.lake.handler import batch_name
from tests.factories import kinesis_event, kinesis_record

FILES = sorted(SQL_ROOT.glob("*/*.sql"))
REPORTS = {"revenue_per_day": ["day", "orders", "revenue"],
           "checkout_funnel": ["carts_created", "checkouts_started", "orders_confirmed", "carts_abandoned"],
           "saga_rollbacks_by_cause": ["cancel_reason", "orders"],
           "occ_conflict_rate": ["cart_writes", "conflicts", "conflict_rate"],
           "stock_movements": ["day", "action", "reason", "movements", "qty"],
           "stockouts": ["product_id", "name", "qty"], "alerts_by_rule": ["rule", "alerts"],
           "top_flagged_customers": ["customer_id", "alerts", "amount"], "top_products": ["sku", "units", "revenue"]}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sql_file_parses_as_athena_and_has_a_header(path):
    text = path.read_text()
    assert all(w in text.split("SELECT")[0].split("CREATE")[0] for w in ("purpose:", "grain:", "source:"))
    assert sqlglot.parse(text, read="athena")
    assert translate(text)


def test_report_files_have_the_agreed_names_and_columns():
    got = {p.stem: [e.alias_or_name for e in sqlglot.parse_one(p.read_text(), read="athena").expressions]
           for p in (SQL_ROOT / "queries").glob("*.sql")}
    assert got == REPORTS


def test_bad_sql_is_named():
    with pytest.raises(AthenaSqlError, match="not valid Athena SQL"):
        translate("SELECT FROM WHERE (")


def test_batch_name_is_the_shard_and_sequence_range():
    img = {"TransactionId": "t", "Version": 1}
    ev = kinesis_event([kinesis_record("Transactions", "INSERT", img, seq=s, shard="shardId-000000000003")
                        for s in ("99", "100", "98")])
    assert batch_name(ev) == "shardId-000000000003-98-100"
