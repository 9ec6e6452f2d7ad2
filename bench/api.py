"""Search API latency: GET /v1/transactions filtered (merchant + country + amount range, facets in
every answer) against demo-sized data, through uvicorn over real HTTP with an analyst key."""
from __future__ import annotations

import random
import time
from typing import Any

from bench.e2e import _pct
from bench.events import COUNTRIES, MERCHANTS


def run(args: Any) -> dict[str, Any]:
    import requests

    from bench import replay
    from bench.stackctx import private_stack
    from search_api.app import create_app
    from search_api.keys import ApiKeyStore, table_name
    from search_api.server import serve_in_thread

    docs = 2_000 if args.quick else 20_000
    n = 100 if args.quick else 500
    with private_stack() as settings:
        indexed = replay.search_rate(settings, docs)
        make_client = __import__("projections.search.client", fromlist=["make_client"]).make_client
        make_client(settings).indices.refresh(index="_all")
        _, key = ApiKeyStore(settings.boto3_client("dynamodb"), table_name(settings)).create("analyst")
        rng = random.Random(3)
        lat: list[float] = []
        totals = 0
        with serve_in_thread(create_app(settings)) as url, requests.Session() as http:
            http.headers["X-Api-Key"] = key
            for i in range(n + 10):
                params = {"merchant": rng.choice(MERCHANTS), "country": rng.choice(COUNTRIES),
                          "min_amount": "10.00", "max_amount": "1500.00", "sort": "-amount", "size": 20}
                t0 = time.perf_counter()
                r = http.get(url + "/v1/transactions", params=params, timeout=30)
                dt = time.perf_counter() - t0
                r.raise_for_status()
                body = r.json()
                if i >= 10:  # the first requests warm connections and caches
                    lat.append(dt * 1000)
                    totals += body["total"]
                    assert "facets" in body
    return {"documents_indexed": indexed["documents"], "requests": n,
            "query": "GET /v1/transactions?merchant=&country=&min_amount=10.00&max_amount=1500.00&sort=-amount&size=20",
            "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "max_ms": round(max(lat), 1),
            "mean_hits_total": round(totals / n, 1)}
