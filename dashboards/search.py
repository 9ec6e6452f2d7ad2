"""Search-side panels: aggregations over the OpenSearch read model (aliases from
projections/search/mappings.py). Filters become structured query clauses, never query text.
Money fields are scaled_float (cents), so sums are exact counts of cents: rounded back to Decimal."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from cqrs.settings import Settings
from dashboards.filters import Filters
from dashboards.render import PanelData


def client(settings: Settings) -> Any:
    from projections.search.client import make_client  # plain HTTP locally, SigV4 in AWS

    return make_client(settings)


def _cents(v: Any) -> Decimal:
    return Decimal(str(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def flagged_merchants_body(f: Filters, size: int = 10) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [{"term": {"deleted": False}}]
    if f.customer:
        clauses.append({"term": {"customer_id": f.customer}})
    if f.start or f.end:
        rng: dict[str, str] = {}
        if f.start:
            rng["gte"] = f"{f.start.isoformat()}T00:00:00Z"
        if f.end:
            rng["lte"] = f"{f.end.isoformat()}T23:59:59.999999Z"
        clauses.append({"range": {"raised_at": rng}})
    return {"size": 0, "query": {"bool": {"filter": clauses}},
            "aggs": {"by_merchant": {"terms": {"field": "merchant", "size": size,
                                               "order": [{"_count": "desc"}, {"_key": "asc"}]},
                                     "aggs": {"amount": {"sum": {"field": "amount"}}}}}}


AGGREGATIONS = {"flagged_merchants": ("alerts", flagged_merchants_body)}


def fetch(settings: Settings, name: str, f: Filters, os_client: Any = None) -> PanelData:
    from projections.search.mappings import alias_name

    resource, body = AGGREGATIONS[name]
    c = os_client or client(settings)
    resp = c.search(index=alias_name(resource, settings.table_prefix), body=body(f))
    buckets = resp["aggregations"]["by_merchant"]["buckets"]
    rows = [(b["key"], int(b["doc_count"]), _cents(b["amount"]["value"])) for b in buckets]
    notes = [] if not f.customer else [f"customer {f.customer}"]
    return PanelData(["merchant", "alerts", "amount"], rows, notes=notes)
