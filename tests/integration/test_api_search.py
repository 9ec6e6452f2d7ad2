"""The search API over real HTTP (uvicorn in a thread) against osmem-server and moto's DynamoDB
(API keys); documents are written by the real projector from Kinesis-shaped events."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cqrs.settings import REPO_ROOT, Settings
from projections.search.admin import provision
from projections.search.client import make_client
from projections.search.handler import process
from search_api.app import create_app
from search_api.keys import ApiKeyStore, create_table, table_name
from search_api.server import free_port, serve_in_thread
from tests.factories import D, kinesis_event, kinesis_record

pytestmark = pytest.mark.integration


def order(oid: str, customer: str, amount: str, minute: int, status: str = "CONFIRMED", v: int = 1,
          sku: str = "SKU-1") -> dict[str, Any]:
    return {"OrderId": oid, "CustomerId": customer, "CartId": "k-" + oid, "Status": status,
            "Lines": [{"Sku": sku, "Qty": D(1), "UnitPrice": D(amount), "LineAmount": D(amount)}],
            "TotalAmount": D(amount), "Currency": "USD", "CreatedAt": f"2026-11-27T06:{minute:02d}:00.000000Z",
            "UpdatedAt": f"2026-11-27T06:{minute:02d}:00.000000Z", "Version": D(v)}


class Env:
    def __init__(self, settings: Settings, url: str, keys: dict[str, str]):
        self.s, self.url, self.keys, self.es = settings, url, keys, make_client(settings)

    def get(self, path: str, key: str | None = "analyst", **params: Any) -> requests.Response:
        headers = {"X-Api-Key": self.keys.get(key, key)} if key else {}
        return requests.get(self.url + path, params=params, headers=headers, timeout=10)

    def project(self, records: list[dict[str, Any]]) -> None:
        out = process(kinesis_event(records), search=self.es, s3=self.s.boto3_client("s3"), settings=self.s)
        assert out == {"batchItemFailures": []}
        self.es.indices.refresh(index=f"{self.s.table_prefix.lower()}*")


@pytest.fixture(scope="module")
def env(local_stack: Settings) -> Iterator[Env]:
    s = local_stack.with_(table_prefix=f"api{uuid.uuid4().hex[:6]}_")
    provision(s)
    create_table(s)
    store = ApiKeyStore(s.boto3_client("dynamodb"), table_name(s))
    keys = {"analyst": store.create("analyst")[1], "c1": store.create("customer", "c-1")[1],
            "c2": store.create("customer", "c-2")[1]}
    with serve_in_thread(create_app(s)) as url:
        e = Env(s, url, keys)
        recs = [kinesis_record("Orders", "INSERT", order(f"o-1{i}", "c-1", f"{10 + i}.50", i, sku=f"SKU-{i % 2}"))
                for i in range(6)]
        recs += [kinesis_record("Orders", "INSERT", order(f"o-2{i}", "c-2", f"{100 + i}.00", 10 + i, "CANCELLED"))
                 for i in range(4)]
        gone = order("o-gone", "c-1", "1.00", 30)
        recs += [kinesis_record("Orders", "INSERT", gone), kinesis_record("Orders", "REMOVE", old=gone)]
        recs += [kinesis_record("Transactions", "INSERT", {
            "TransactionId": f"t-{i}", "CustomerId": "c-1" if i % 2 else "c-2", "Merchant": f"Shop {i % 3}",
            "Amount": D(f"{i}.99"), "Currency": "USD", "Country": "US" if i < 3 else "FR",
            "PostedAt": f"2026-11-27T07:0{i}:00.000000Z", "Version": D(1)}) for i in range(5)]
        recs += [kinesis_record("ProductCatalog", "INSERT", {
            "ProductID": f"p-{i}", "TranID": "0", "Name": name, "Category": cat, "Price": D("19.99"),
            "Qty": D(5), "LastUpdate": "2026-11-27T05:00:00.000000Z", "Version": D(1)})
            for i, (name, cat) in enumerate([("Red running shoes", "shoes"), ("Blue rain jacket", "coats"),
                                             ("Green running socks", "socks")])]
        recs += [kinesis_record("Alerts", "INSERT", {
            "AlertId": f"a-{i}", "TransactionId": f"t-{i}", "CustomerId": "c-1", "Merchant": "Shop 1",
            "Rule": rule, "Reason": "amount far above the customer's usual", "Amount": D("900.00"),
            "Status": "OPEN", "RaisedAt": "2026-11-27T07:10:00.000000Z", "Version": D(1)})
            for i, rule in enumerate(["AMOUNT_SPIKE", "AMOUNT_SPIKE", "FOREIGN_COUNTRY"])]
        e.project(recs)
        yield e


def test_health_is_open_everything_else_needs_a_key(env: Env) -> None:
    assert env.get("/health", key=None).json() == {"status": "ok"}
    for path in ("/v1/orders", "/v1/products", "/v1/orders/o-10", "/openapi.json"):
        assert env.get(path, key=None).status_code == 401
        assert env.get(path, key="cqk_nope_wrong").status_code == 401
    forged = env.keys["analyst"][:-3] + "abc"
    assert env.get("/v1/orders", key=forged).status_code == 401
    spec = env.get("/openapi.json")
    assert spec.status_code == 200 and "/v1/orders" in spec.json()["paths"]


def test_roles_and_customer_scope(env: Env) -> None:
    assert env.get("/v1/alerts", key="c1").status_code == 403  # alerts are analysts' only
    assert env.get("/v1/orders", key="c1", customer="c-2").status_code == 403
    mine = env.get("/v1/orders", key="c1", size=50).json()
    assert mine["total"] == 6 and {o["customer_id"] for o in mine["items"]} == {"c-1"}
    assert env.get("/v1/orders/o-20", key="c1").status_code == 404  # another customer's: not found
    assert env.get("/v1/orders/o-20", key="c2").json()["total_amount"] == "100.00"
    everyone = env.get("/v1/orders", size=50).json()
    assert everyone["total"] == 10
    assert env.get("/v1/alerts").json()["total"] == 3
    txs = env.get("/v1/transactions", key="c1").json()
    assert {t["customer_id"] for t in txs["items"]} == {"c-1"} and txs["total"] == 2
    assert env.get("/v1/products", key="c2").json()["total"] == 3  # the catalog is for every caller


def test_tombstones_are_never_returned(env: Env) -> None:
    assert env.get("/v1/orders/o-gone").status_code == 404
    assert all(o["id"] != "o-gone" for o in env.get("/v1/orders", size=100).json()["items"])
    assert env.get("/v1/orders", q="o-gone").json()["total"] == 0


def test_filters_facets_sort_and_exact_money(env: Env) -> None:
    r = env.get("/v1/orders", min_amount="12.50", max_amount="14.50", sort="total_amount").json()
    assert [o["total_amount"] for o in r["items"]] == ["12.50", "13.50", "14.50"]
    assert env.get("/v1/orders", sku="SKU-1", customer="c-1").json()["total"] == 3
    r = env.get("/v1/orders", **{"from": "2026-11-27T06:02:00Z", "to": "2026-11-27T06:04:00Z"}).json()
    assert sorted(o["id"] for o in r["items"]) == ["o-12", "o-13"]
    facets = env.get("/v1/orders").json()["facets"]["status"]
    assert {f["value"]: f["count"] for f in facets} == {"CONFIRMED": 6, "CANCELLED": 4}
    rules = env.get("/v1/alerts").json()["facets"]["rule"]
    assert {f["value"]: f["count"] for f in rules} == {"AMOUNT_SPIKE": 2, "FOREIGN_COUNTRY": 1}
    cats = env.get("/v1/products", q="running").json()
    assert sorted(p["name"] for p in cats["items"]) == ["Green running socks", "Red running shoes"]
    assert {f["value"] for f in cats["facets"]["category"]} == {"shoes", "socks"}
    assert env.get("/v1/alerts", rule="FOREIGN_COUNTRY").json()["items"][0]["id"] == "a-2"
    assert env.get("/v1/transactions", merchant="Shop 1").json()["total"] == 2
    assert "text" not in env.get("/v1/orders/o-10").json()  # internal fields stay internal


@pytest.mark.parametrize("params,name", [
    ({"size": 1000}, "size"), ({"size": 0}, "size"), ({"min_amount": "abc"}, "min_amount"),
    ({"min_amount": "1.001"}, "min_amount"), ({"sort": "-secret"}, "sort"), ({"sort": "a;b"}, "sort"),
    ({"from": "yesterday"}, "from"), ({"q": "x" * 5000}, "q"), ({"cursor": "!!!"}, "cursor"),
    ({"status": "x" * 500}, "status"),
])
def test_bad_params_are_422_naming_the_parameter(env: Env, params: dict[str, Any], name: str) -> None:
    r = env.get("/v1/orders", **params)
    assert r.status_code == 422
    assert any(d["loc"][-1] == name for d in r.json()["detail"])


@pytest.mark.parametrize("q", ["*:*", "OR *", "*", "customer_id:c-2", "c-2", "o-20", "c-1 OR c-2",
                               '" OR ""="', "a AND (b", "(((((", "\\", "status:* OR _exists_:id",
                               "{!lucene}*:*", "x" * 256])
def test_injection_stays_in_scope(env: Env, q: str) -> None:
    r = env.get("/v1/orders", key="c1", q=q, size=100)
    assert r.status_code == 200, r.text
    assert all(o["customer_id"] == "c-1" for o in r.json()["items"])
    assert r.json()["total"] <= 6


def test_cursor_pagination_is_stable_while_documents_arrive(env: Env) -> None:
    seen: list[str] = []
    page = env.get("/v1/orders", size=3, sort="-created_at").json()
    seen += [o["id"] for o in page["items"]]
    # Between pages: a new order sorting before the cursor, one after it, and an update to a seen one.
    env.project([kinesis_record("Orders", "INSERT", order("o-new-late", "c-1", "1.00", 59)),
                 kinesis_record("Orders", "INSERT", order("o-new-early", "c-1", "1.00", 0)),
                 kinesis_record("Orders", "MODIFY", order(seen[0], "c-2", "100.00", 13, "CONFIRMED", v=2))])
    while page["next_cursor"]:
        page = env.get("/v1/orders", size=3, sort="-created_at", cursor=page["next_cursor"]).json()
        seen += [o["id"] for o in page["items"]]
    assert len(seen) == len(set(seen))  # nothing twice
    originals = {f"o-1{i}" for i in range(6)} | {f"o-2{i}" for i in range(4)}
    assert originals <= set(seen)  # nothing skipped
    assert "o-new-late" not in seen and "o-new-early" in seen  # new docs appear only past the cursor
    other = env.get("/v1/orders", size=3, sort="total_amount", cursor=page.get("next_cursor") or "")
    assert other.status_code == 200


def test_backend_errors_are_clean_json(local_stack: Settings, env: Env) -> None:
    dead = env.s.with_(opensearch_url=f"http://127.0.0.1:{free_port()}")
    with serve_in_thread(create_app(dead)) as url:
        r = requests.get(url + "/v1/orders", headers={"X-Api-Key": env.keys["analyst"]}, timeout=30)
    assert r.status_code == 503 and r.json() == {"error": "search backend unavailable; retry later",
                                                 "retryable": True}
    assert "Traceback" not in r.text


def test_lambda_adapter_answers_api_gateway_events(env: Env) -> None:
    from search_api import lambda_handler

    def event(path: str, key: str | None) -> dict[str, Any]:
        return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "size=2",
                "headers": {"x-api-key": key} if key else {},
                "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1",
                                            "protocol": "HTTP/1.1", "userAgent": "t"},
                                   "stage": "$default", "requestId": "r", "accountId": "1", "apiId": "a",
                                   "domainName": "x", "time": "", "timeEpoch": 0},
                "isBase64Encoded": False}

    os.environ["CQRS_TABLE_PREFIX"] = env.s.table_prefix
    lambda_handler._handler = None
    try:
        assert lambda_handler.handle(event("/health", None), None)["statusCode"] == 200
        assert lambda_handler.handle(event("/v1/orders", None), None)["statusCode"] == 401
        ok = lambda_handler.handle(event("/v1/orders", env.keys["analyst"]), None)
        assert ok["statusCode"] == 200 and '"total":' in ok["body"]
    finally:
        os.environ.pop("CQRS_TABLE_PREFIX")
        lambda_handler._handler = None


def test_cli_apikey_reindex_and_serve(env: Env, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from cqrs.cli import main

    monkeypatch.setenv("CQRS_TABLE_PREFIX", env.s.table_prefix)  # this module's own indices and keys

    def run(*a: str) -> tuple[int, str]:
        code = main(list(a))
        return code, capsys.readouterr().out

    code, key = run("apikey", "create", "--role", "customer", "--customer", "c-9")
    assert code == 0 and key.strip().startswith("cqk_")
    assert run("apikey", "create", "--role", "customer")[0] == 1  # needs --customer
    code, out = run("search", "reindex", "alerts")
    assert code == 0 and f'"to": "{env.s.table_prefix.lower()}alerts-v2"' in out
    assert env.get("/v1/alerts").json()["total"] == 3  # same documents behind the swapped alias
    assert run("search", "reindex", "nonsense")[0] == 1
    # `serve` for real, in its own process (it blocks): health, a keyed search, api_url in the state.
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cqrs.cli", "serve", "--port", str(port)], cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        assert f'"api_url": "http://127.0.0.1:{port}"' in run("status", "--json")[1]
        r = requests.get(f"http://127.0.0.1:{port}/v1/orders", headers={"X-Api-Key": key.strip()}, timeout=5)
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    assert "api_url" not in run("status", "--json")[1]


def test_demo_step_prints_searches(local_stack: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from search_api.demo import demo_step

    s = local_stack.with_(table_prefix=f"demo{uuid.uuid4().hex[:6]}_")
    provision(s)
    create_table(s)
    es = make_client(s)
    recs = [kinesis_record("Orders", "INSERT", order(f"demo-{i}", "c-d", "150.00", i)) for i in range(4)]
    recs.append(kinesis_record("Transactions", "INSERT", {
        "TransactionId": "demo-t", "CustomerId": "c-d", "Merchant": "Demo Shop", "Amount": D("250.00"),
        "Currency": "USD", "Country": "US", "PostedAt": "2026-11-27T07:00:00.000000Z", "Version": D(1)}))
    out = process(kinesis_event(recs), search=es, s3=s.boto3_client("s3"), settings=s)
    assert out == {"batchItemFailures": []}
    es.indices.refresh(index=f"{s.table_prefix.lower()}*")
    demo_step(s, None)
    text = capsys.readouterr().out
    assert "GET /v1/orders: 4 orders" in text and "CONFIRMED" in text and "demo-" in text
    assert "250.00 at Demo Shop" in text and "next page (cursor)" in text
