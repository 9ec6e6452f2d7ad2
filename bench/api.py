"""Search API latency: GET /v1/transactions filtered (merchant + country + amount range, facets in
every answer) against demo-sized data, through uvicorn over real HTTP with an analyst key."""
from __future__ import annotations

import random
import time
from typing import Any

from bench.e2e import _pct
from bench.events import COUNTRIES, MERCHANTS, kinesis_event


def index_documents(settings: Any, records: int, chunk: int = 500) -> dict[str, Any]:
    """The search documents of `records` bench changes (highest version per id), written in bulks."""
    from bench.paths import best_actions
    from projections.search.client import make_client
    from projections.search.writer import BulkWriter

    writer = BulkWriter(make_client(settings, timeout=60))
    actions = best_actions(kinesis_event(records, seed=11), settings.table_prefix)
    failed = sum(len(writer.write(actions[i:i + chunk]).failed) for i in range(0, len(actions), chunk))
    if failed:
        raise RuntimeError(f"{failed} of {len(actions)} search documents were not written")
    return {"documents": len(actions)}


def run(args: Any) -> dict[str, Any]:
    import requests

    from bench.stackctx import private_stack
    from search_api.app import create_app
    from search_api.keys import ApiKeyStore, table_name
    from search_api.server import serve_in_thread

    docs = 2_000 if args.quick else 20_000
    n = 100 if args.quick else 500
    with private_stack() as settings:
        indexed = index_documents(settings, docs)
        make_client = __import__("projections.search.client", fromlist=["make_client"]).make_client
        make_client(settings).indices.refresh(index="_all")
        _, key = ApiKeyStore(settings.boto3_client("dynamodb"), table_name(settings)).create("analyst")
        rng = random.Random(3)
        lat: list[float] = []
        totals = 0
        with serve_in_thread(create_app(settings)) as url, requests.Session() as http:
            http.headers["X-Api-Key"] = key
            for i in range(n + 10):
                params: dict[str, str | int] = {"merchant": rng.choice(MERCHANTS), "country": rng.choice(COUNTRIES),
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
            "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "max_ms": round(max(lat), 3),
            "mean_hits_total": round(totals / n, 1)}
