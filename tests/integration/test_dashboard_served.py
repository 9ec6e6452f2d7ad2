"""The live page at GET /dashboard, served by the search API app (uvicorn on loopback) over the
real local stack: alerts projected into OpenSearch by the search projector from factory-built
Kinesis events, then read by headless Chromium. The search panel must draw exactly what OpenSearch
aggregates; pipeline panels read the real S3 buckets."""
from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from decimal import Decimal

import pytest

from tests.factories import D, kinesis_event, kinesis_record
from tests.integration.dashboard_browser import assert_panel_matches, chromium, read_page

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _alert(i: int, merchant: str, customer: str, amount: str, rule: str = "AMOUNT_SPIKE") -> dict:
    return {"AlertId": f"a{i}", "TransactionId": f"t{i}", "CustomerId": customer, "Merchant": merchant,
            "Rule": rule, "Reason": "test", "Amount": D(amount), "Status": "OPEN",
            "RaisedAt": "2026-11-27T06:00:00.000000Z", "Version": D(1)}


def test_served_dashboard_shows_projected_alerts(local_stack):
    import uvicorn

    from cqrs.stack import free_port
    from dashboards.definition import load_all
    from projections.search.admin import provision as provision_search
    from projections.search.client import make_client
    from projections.search.handler import process
    from search_api.app import create_app

    # Its own index namespace: the shared stack's runner projects other tests' alerts meanwhile.
    s = local_stack.with_(table_prefix=f"d{uuid.uuid4().hex[:8]}_")
    provision_search(s)
    search = make_client(s)
    alerts = [_alert(1, "m-big", "c1", "900.10"), _alert(2, "m-big", "c2", "0.20", "FOREIGN_COUNTRY"),
              _alert(3, "m-small", "c1", "5.05")]
    out = process(kinesis_event(kinesis_record("Alerts", "INSERT", new=a) for a in alerts),
                  search=search, s3=s.boto3_client("s3"), settings=s)
    assert out == {"batchItemFailures": []}
    search.indices.refresh(index=f"{s.table_prefix.lower()}alerts")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(s), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    driver = chromium()
    try:
        panels, errors = read_page(driver, f"http://127.0.0.1:{port}/dashboard?refresh=0", "dashboard-served.png")
        filtered, _ = read_page(driver, f"http://127.0.0.1:{port}/dashboard?customer=c2&refresh=0",
                                "dashboard-served-c2.png")
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard?from=2026-99-01", timeout=30)
        assert bad.value.code == 400
    finally:
        driver.quit()
        server.should_exit = True
        t.join(10)

    assert errors == []
    specs = {p.id: p.spec for b in load_all() for p in b.panels}
    by_id = {p["id"]: p for p in panels}
    merchants = by_id["top_flagged_merchants"]
    assert_panel_matches(specs["top_flagged_merchants"], merchants)
    assert merchants["rows"]["rows"] == [["m-big", 2, "900.30"], ["m-small", 1, "5.05"]]
    assert {p["id"]: p["rows"]["rows"] for p in filtered}["top_flagged_merchants"] == [["m-big", 1, "0.20"]]
    for pid in ("set_aside", "reconciliation"):
        assert_panel_matches(specs[pid], by_id[pid])
    assert ["lake quarantine (objects)", 0] in by_id["set_aside"]["rows"]["rows"]
    assert Decimal("900.30") == Decimal(merchants["rows"]["rows"][0][2])
