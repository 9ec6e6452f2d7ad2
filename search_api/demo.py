"""`cqrs demo` step: a few searches through the real API (uvicorn in a thread, real HTTP) with a
freshly created analyst key, over what the projector indexed during the demo's load."""
from __future__ import annotations

import argparse
from typing import Any

from cqrs.settings import Settings


def demo_step(settings: Settings, args: argparse.Namespace | None = None) -> None:
    import requests

    from search_api.app import create_app
    from search_api.keys import ApiKeyStore, table_name
    from search_api.server import serve_in_thread

    _, key = ApiKeyStore(settings.boto3_client("dynamodb"), table_name(settings)).create("analyst")
    with serve_in_thread(create_app(settings)) as url:
        def get(path: str, **params: Any) -> dict[str, Any]:
            r = requests.get(url + path, params=params, headers={"X-Api-Key": key}, timeout=30)
            r.raise_for_status()
            return dict(r.json())

        def facets(page: dict[str, Any], name: str) -> str:
            return ", ".join(f"{f['value']} {f['count']}" for f in page["facets"].get(name, [])) or "-"

        orders = get("/v1/orders", size=3)
        print(f"  GET /v1/orders: {orders['total']} orders; by status: {facets(orders, 'status')}")
        for o in orders["items"]:
            print(f"    {o['id']}  {o.get('customer_id')}  {o.get('status'):<9} {o.get('total_amount'):>10} "
                  f"{o.get('currency', '')}  {o.get('created_at')}")
        if orders["items"]:
            cust = orders["items"][0].get("customer_id")
            mine = get("/v1/orders", customer=cust, size=100)
            print(f"  GET /v1/orders?customer={cust}: {mine['total']} orders")
        big = get("/v1/transactions", min_amount="100.00", sort="-amount", size=3)
        print(f"  GET /v1/transactions?min_amount=100.00&sort=-amount: {big['total']} transactions; top: "
              + ", ".join(f"{t.get('amount')} at {t.get('merchant')}" for t in big["items"]))
        products = get("/v1/products", size=1)
        if products["items"]:
            word = str(products["items"][0].get("name", "")).split()[0]
            hits = get("/v1/products", q=word)
            print(f"  GET /v1/products?q={word}: {hits['total']} products; categories: {facets(hits, 'category')}")
        alerts = get("/v1/alerts", size=1)
        print(f"  GET /v1/alerts: {alerts['total']} alerts; by rule: {facets(alerts, 'rule')}")
        if orders["next_cursor"]:
            page2 = get("/v1/orders", size=3, cursor=orders["next_cursor"])
            print(f"  next page (cursor): {', '.join(o['id'] for o in page2['items'])}")
    print("  try it: cqrs serve --port 8080 & curl -H 'X-Api-Key: <key from cqrs apikey create>' "
          "'http://127.0.0.1:8080/v1/orders?status=CONFIRMED&size=5'")
