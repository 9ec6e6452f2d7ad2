"""reconcile, repair, replay and backfill on a private pipeline (reliability.sandbox) over the local stack."""
from __future__ import annotations

import pytest

from cqrs.cli import main
from reliability.reconcile import reconcile
from reliability.replay import backfill, replay
from reliability.sandbox import Sandbox, env_for, order, product, transaction

pytestmark = pytest.mark.integration


def test_backfill_then_drift_is_found_per_key_and_repaired(local_stack, tmp_path, monkeypatch, capsys):
    box = Sandbox.create(local_stack, tmp_path)
    s = box.settings
    for i in range(4):
        box.put("Orders", order(f"o-{i}", 2))
        box.put("Transactions", transaction(f"t-{i}", amount=f"1{i}.05"))
    box.put("ProductCatalog", product("p-1", 3))
    # The tables already hold data: backfill brings it into every read model.
    out = backfill(s, quiet=True)
    assert {k: (p.applied, p.failed) for k, p in out.items()} == {st: (9, []) for st in ("search", "lake", "warehouse")}
    rep = reconcile(s)
    assert rep["ok"] and rep["views"]["orders"]["lake"]["checksum"] == rep["views"]["orders"]["command"]["checksum"]

    # Drift of three kinds, in three places.
    from projections.warehouse.adapters import from_settings

    # Search missed an update: v3 reached the lake and the warehouse only.
    from reliability import synth
    from reliability.sinks import make_sink

    box.put("Orders", order("o-1", 3, status="CONFIRMED"))
    v3 = {"Records": [synth.upsert("Orders", order("o-1", 3, status="CONFIRMED"), s.region, s.table("Orders"))]}
    assert make_sink(s, "lake")(v3) == [] and make_sink(s, "warehouse")(v3) == []
    import psycopg

    with psycopg.connect(s.warehouse_dsn, autocommit=True) as c:  # warehouse lost a row
        c.execute("DELETE FROM fact_transactions WHERE transaction_id = %s", ("t-2",))
    box.delete("Orders", {"OrderId": "o-3"})  # a delete no read model has seen (its stream record unread)

    for k, v in env_for(s).items():
        monkeypatch.setenv(k, v)
    assert main(["reconcile"]) == 1
    text = capsys.readouterr().out
    assert "drift: search/orders o-1: stale (command v3, search v2)" in text
    assert "drift: warehouse/transactions t-2: missing" in text
    for st in ("search", "lake", "warehouse"):
        assert f"drift: {st}/orders o-3: extra" in text
    from cqrs.reconcile import last_report  # the dashboard's entry point

    saved = last_report(s)
    assert saved is not None and saved["drift_count"] == 5 and not saved["ok"]

    assert main(["reconcile", "--repair"]) == 0
    assert "repaired 5 drifted key(s)" in capsys.readouterr().out
    assert last_report(s)["ok"]
    assert from_settings(s).query("SELECT COUNT(*) FROM fact_orders WHERE order_id = %s AND is_deleted",
                                  ("o-3",))[1] == [(1,)]  # a versioned tombstone, not a hard delete

    # Replay rebuilds a read model from the lake's change log, for chosen keys, idempotently (twice).
    with psycopg.connect(s.warehouse_dsn, autocommit=True) as c:
        c.execute("DELETE FROM fact_transactions WHERE transaction_id = %s", ("t-0",))
    assert not reconcile(s, stores=("warehouse",))["ok"]
    for _ in range(2):
        p = replay(s, "warehouse", keys=["t-0"], quiet=True)
        assert p.applied == 1 and p.failed == []
    assert reconcile(s)["ok"]
