"""The renderer and the definitions, pure: definitions + hand-built data -> HTML."""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from dashboards.definition import DefinitionError, load_all, parse
from dashboards.filters import FilterError, Filters
from dashboards.render import PageContext, PanelData, render_page
from dashboards.sources import apply_filters

SAMPLE = {
    "revenue_per_day": (["day", "orders", "revenue"], [("2026-11-26", 2, Decimal("30.10")), ("2026-11-27", 1, Decimal("5.05"))]),
    "checkout_funnel": (["carts_created", "checkouts_started", "orders_confirmed", "carts_abandoned"], [(4, 3, 2, 1)]),
    "saga_rollbacks_by_cause": (["cancel_reason", "orders"], [("OUT_OF_STOCK", 1)]),
    "occ_conflict_rate": (["cart_writes", "conflicts", "conflict_rate"], [(10, 1, Decimal("0.1"))]),
    "alerts_by_rule": (["rule", "alerts"], [("AMOUNT_SPIKE", 2), ("FOREIGN_COUNTRY", 1)]),
    "top_flagged_customers": (["customer_id", "alerts", "amount"], [("c1", 2, Decimal("900.00")), ("c2", 1, Decimal("1.00"))]),
    "top_flagged_merchants": (["merchant", "alerts", "amount"], [("m1", 3, Decimal("901.00"))]),
    "top_products": (["sku", "units", "revenue"], [("SKU-1", 3, Decimal("30.15"))]),
    "stock_movements": (["day", "action", "reason", "movements", "qty"],
                        [("2026-11-26", "ADD", "INITIAL", 2, 20), ("2026-11-27", "SUB", "ORDER", 1, 3)]),
    "stockouts": (["product_id", "name", "qty"], [("P2", "Mug", 0)]),
    "freshness": (["read_model", "lag_seconds", "measured_by", "newest_write"], [("lake", Decimal("0.5"), "x", "")]),
    "runner_lag": (["mapping", "lag_seconds", "state"], [("search", Decimal(1), "Enabled")]),
    "set_aside": (["place", "records"], [("lake quarantine (objects)", 0)]),
    "reconciliation": (["read_model", "status", "detail"], [("lake", "not run", "")]),
}


def page(data=None) -> str:
    boards = load_all()
    d = data or {k: PanelData(c, r) for k, (c, r) in SAMPLE.items()}
    return render_page(boards, d, PageContext(generated_at="now", engine="redshift"))


def test_every_panel_has_sample_data_and_renders_ok():
    ids = [p.id for b in load_all() for p in b.panels]
    assert sorted(ids) == sorted(SAMPLE)
    html = page()
    assert html.count("data-state='ok'") == len(ids)
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs() in html  # plotly.js inline: the page works offline
    ours = html.replace(get_plotlyjs(), "")
    assert "<script src=" not in ours and "stylesheet" not in ours and "http" not in ours
    assert "Revenue (USD)" in html and "Day (UTC)" in html


def test_exact_numbers_travel_as_strings():
    html = page()
    m = re.search(r"data-panel='revenue_per_day'[^>]*data-rows='([^']*)'", html)
    import html as h
    rows = json.loads(h.unescape(m.group(1)))
    assert rows["rows"] == [["2026-11-26", 2, "30.10"], ["2026-11-27", 1, "5.05"]]


def test_a_failing_source_fails_only_its_panel():
    d = {k: PanelData(c, r) for k, (c, r) in SAMPLE.items()}
    d["top_products"] = PanelData([], [], error="boom: retry later")
    d["alerts_by_rule"] = PanelData(["wrong"], [("x",)])
    html = page(d)
    assert html.count("data-state='error'") == 2 and "boom: retry later" in html
    assert "column &#x27;rule&#x27; not in result columns" in html


def test_filters_apply_to_rows_and_say_where_they_cannot():
    boards = {p.id: p for b in load_all() for p in b.panels}
    f = Filters.parse("2026-11-27", "2026-11-27", "c2")
    rev = apply_filters(boards["revenue_per_day"], PanelData(*SAMPLE["revenue_per_day"]), f)
    assert [r[0] for r in rev.rows] == ["2026-11-27"] and any("customer" in n for n in rev.notes)
    cust = apply_filters(boards["top_flagged_customers"], PanelData(*SAMPLE["top_flagged_customers"]), f)
    assert cust.rows == [("c2", 1, Decimal("1.00"))]


@pytest.mark.parametrize("args", [("2026-13-01", None, None), ("2026-11-02", "2026-11-01", None),
                                  (None, None, "x' OR 1=1")])
def test_bad_filters_are_refused(args):
    with pytest.raises(FilterError):
        Filters.parse(*args)


def test_definition_errors_name_the_panel():
    with pytest.raises(DefinitionError, match="exactly one"):
        parse({"id": "x", "title": "x", "panels": [{"id": "p", "title": "p", "chart": "bar"}]})
    with pytest.raises(DefinitionError, match="unknown chart"):
        parse({"id": "x", "title": "x", "panels": [{"id": "p", "title": "p", "chart": "pie", "report": "r"}]})


def test_opensearch_saved_objects_reference_each_other():
    from dashboards.definition import load
    from dashboards.opensearch import saved_objects

    objs = saved_objects(load("transaction_insights"))
    ids = {o["id"] for o in objs}
    assert {o["type"] for o in objs} == {"index-pattern", "visualization", "dashboard"}
    for o in objs:
        for ref in o["references"]:
            assert ref["id"] in ids
    dash = next(o for o in objs if o["type"] == "dashboard")
    assert len(json.loads(dash["attributes"]["panelsJSON"])) == len(dash["references"])
