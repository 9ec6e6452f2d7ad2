"""Fault injection on a private pipeline (reliability.sandbox): a real runner subprocess with the three
projectors over the local stack, deliberate delivery faults from ingestion.faults, and every scenario
ending with `reconcile` finding no drift between the command side and search, lake and warehouse."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from reliability import synth
from reliability.reconcile import reconcile
from reliability.sandbox import Sandbox, order, product, transaction
from reliability.sinks import make_sink

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box(local_stack, tmp_path_factory):
    sb = Sandbox.create(local_stack, tmp_path_factory.mktemp("faults"))
    yield sb
    sb.stop()


def _no_drift(sb: Sandbox) -> dict:
    rep = reconcile(sb.settings)
    assert rep["errors"] == {}
    assert rep["drift"] == [], rep["drift"][:5]
    assert rep["ok"]
    return rep


def test_every_batch_delivered_twice_and_reordered_across_keys(box):
    box.set_faults({n: {"duplicate_batches": True, "reorder_key_disjoint": True}
                    for n in ("search-projector", "lake-projector", "warehouse-projector")})
    box.start()
    try:
        for v in range(1, 6):
            for i in range(6):
                box.put("ProductCatalog", product(f"dup-{i}", v, price=f"{v}.{i}5"))
        for i in range(8):
            box.put("Transactions", transaction(f"dup-t{i}"))
        box.drain()
        st = box.status()
    finally:
        box.stop()
    for mid, m in st["mappings"].items():
        assert m["delivered"] >= 38 and m["sent_to_destination"] == 0, (mid, m)
    # The second delivery of each batch rewrote the same lake objects (named by shard + sequence
    # range): the append-only log holds each change once, not twice.
    from projections.lake.athena import run_athena

    _, [(n,)] = run_athena(box.settings, "SELECT COUNT(*) FROM product_changes WHERE product_id LIKE 'dup-%'")
    assert n == 30
    rep = _no_drift(box)
    assert rep["views"]["products"]["command"]["count"] >= 6


def test_changes_of_one_key_reordered_end_in_the_highest_version(box):
    """A key's versions delivered newest first (as after a redelivery racing a newer batch with
    parallelization): every read model keeps the highest version."""
    s = box.settings
    items = [order("reord-1", v, status="CONFIRMED" if v == 4 else "PENDING") for v in range(1, 5)]
    box.put("Orders", items[-1])  # the command side holds v4 only
    sinks = {st: make_sink(s, st) for st in ("search", "lake", "warehouse")}
    for it in reversed(items):  # v4, v3, v2, v1: each a separate delivery
        ev = {"Records": [synth.upsert("Orders", it, s.region, s.table("Orders"))]}
        for name, sink in sinks.items():
            assert sink(ev) == [], name
    rep = reconcile(s, stores=("search", "lake", "warehouse"))
    drift = [d for d in rep["drift"] if d["key"] == ["reord-1"]]
    assert drift == []


def test_delete_then_a_stale_upsert_long_after_stays_deleted(box):
    s = box.settings
    box.put("Orders", order("gone-1", 1))
    box.put("Orders", order("gone-1", 2, status="CONFIRMED"))
    box.delete("Orders", {"OrderId": "gone-1"})
    box.start()
    try:
        box.drain()
    finally:
        box.stop()
    time.sleep(1.0)
    # Long after the delete, a stale v2 is delivered again (a replay, a late retry).
    for name in ("search", "lake", "warehouse"):
        assert make_sink(s, name)({"Records": [synth.upsert("Orders", order("gone-1", 2), s.region,
                                                           s.table("Orders"))]}) == []
    rep = _no_drift(box)
    assert rep["views"]["orders"]["search"]["count"] == rep["views"]["orders"]["command"]["count"]


def test_numbers_exact_everywhere_beyond_2_53_and_18_digit_money(box):
    big = Decimal(2 ** 53 + 1)
    box.put("ProductCatalog", product("big-1", 1, price="9999999999999999.99", qty=big))
    box.start()
    try:
        box.drain()
    finally:
        box.stop()
    rep = _no_drift(box)
    assert rep["views"]["products"]["command"]["count"] >= 1
    from projections.warehouse.query import run_redshift

    _, rows = run_redshift(box.settings, "SELECT price, qty FROM products WHERE product_id = 'big-1'")
    assert rows == [(Decimal("9999999999999999.99"), 2 ** 53 + 1)]
