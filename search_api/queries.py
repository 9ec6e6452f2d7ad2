"""Search request -> OpenSearch query body, and hits -> API page. Pure: no client, no FastAPI.

User text only ever reaches OpenSearch as the `query` *value* of a `simple_query_string` on fields
we choose (never `query_string`, whose syntax can name fields and run regexes); every other
parameter becomes a term/range filter value. The caller's scope (its customer) is a filter clause
the user's text cannot widen: `simple_query_string` only scores inside the filtered set.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

MAX_PAGE = 100
MAX_QUERY_CHARS = 256
# No FUZZY/SLOP/NEAR: cheap operators only, so a query string cannot be made expensive.
SQS_FLAGS = "AND|OR|NOT|PHRASE|PRECEDENCE|PREFIX|WHITESPACE|ESCAPE"
HIDDEN = ("text", "deleted", "ttl_expired", "name_sort")


@dataclass(frozen=True)
class Resource:
    name: str
    time_field: str
    amount_field: str
    text_fields: tuple[str, ...]
    filters: dict[str, str]          # API parameter -> document field (term filter)
    facets: tuple[str, ...]
    sortable: tuple[str, ...]
    customer_scoped: bool
    roles: frozenset[str]

    @property
    def default_sort(self) -> str:
        return f"-{self.time_field}"


RESOURCES: dict[str, Resource] = {r.name: r for r in (
    Resource("orders", "created_at", "total_amount", ("text",),
             {"customer": "customer_id", "status": "status", "sku": "skus", "cart": "cart_id"},
             ("status",), ("created_at", "updated_at", "total_amount", "status"), True,
             frozenset({"analyst", "customer"})),
    Resource("transactions", "posted_at", "amount", ("text",),
             {"customer": "customer_id", "merchant": "merchant", "country": "country", "payment": "payment_id"},
             ("country",), ("posted_at", "amount", "merchant"), True, frozenset({"analyst", "customer"})),
    # The catalog is public to every authenticated caller: products belong to no customer.
    Resource("products", "last_update", "price", ("name^2", "text"),
             {"category": "category", "sku": "product_id"},
             ("category",), ("last_update", "price", "qty", "name_sort"), False,
             frozenset({"analyst", "customer"})),
    # Fraud alerts are for analysts only.
    Resource("alerts", "raised_at", "amount", ("text", "reason"),
             {"customer": "customer_id", "merchant": "merchant", "rule": "rule", "status": "status"},
             ("rule", "status"), ("raised_at", "amount", "rule"), True, frozenset({"analyst"})),
)}


class ParamError(ValueError):
    """A request parameter is invalid: the API answers 422 naming it."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str                  # "analyst" | "customer"
    customer_id: str | None = None


@dataclass
class SearchRequest:
    q: str | None = None
    filters: dict[str, str] = field(default_factory=dict)
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None
    sort: str | None = None
    size: int = 20
    cursor: str | None = None


def scope_filters(res: Resource, who: Principal) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if res.customer_scoped and who.role != "analyst":
        if not who.customer_id:
            raise PermissionError("a customer key without a customer sees nothing")
        out.append({"term": {"customer_id": who.customer_id}})
    return out


def _base_bool(res: Resource, who: Principal) -> dict[str, Any]:
    return {"filter": scope_filters(res, who), "must_not": [{"term": {"deleted": True}}]}


def encode_cursor(sort: str, after: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"s": sort, "a": after})).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise ParamError("cursor", "not a cursor returned by this API") from None
    if not isinstance(data, dict) or not isinstance(data.get("a"), list) or len(data["a"]) != 2:
        raise ParamError("cursor", "not a cursor returned by this API")
    if data.get("s") != sort:
        raise ParamError("cursor", "the cursor belongs to another sort order; start again without it")
    if not all(v is None or isinstance(v, (str, int, float)) for v in data["a"]):
        raise ParamError("cursor", "not a cursor returned by this API")
    return list(data["a"])


def build_search(res: Resource, who: Principal, req: SearchRequest) -> dict[str, Any]:
    if not 1 <= req.size <= MAX_PAGE:
        raise ParamError("size", f"size must be between 1 and {MAX_PAGE}")
    sort = req.sort or res.default_sort
    field_name = sort.lstrip("-")
    if field_name not in res.sortable:
        raise ParamError("sort", f"sort by one of {', '.join(res.sortable)} (prefix - for descending)")
    b = _base_bool(res, who)
    if req.q is not None and req.q.strip():
        if len(req.q) > MAX_QUERY_CHARS:
            raise ParamError("q", f"q is limited to {MAX_QUERY_CHARS} characters")
        b["must"] = [{"simple_query_string": {"query": req.q, "fields": list(res.text_fields),
                                              "default_operator": "and", "flags": SQS_FLAGS,
                                              "lenient": True}}]
    for param, value in req.filters.items():
        if param not in res.filters:
            raise ParamError(param, f"{res.name} cannot be filtered by {param}")
        b["filter"].append({"term": {res.filters[param]: value}})
    amount: dict[str, str] = {}
    if req.min_amount is not None:
        amount["gte"] = str(req.min_amount)
    if req.max_amount is not None:
        amount["lte"] = str(req.max_amount)
    if amount:
        b["filter"].append({"range": {res.amount_field: amount}})
    when: dict[str, str] = {}
    if req.time_from is not None:
        when["gte"] = req.time_from.isoformat()
    if req.time_to is not None:
        when["lt"] = req.time_to.isoformat()
    if when:
        b["filter"].append({"range": {res.time_field: when}})
    body: dict[str, Any] = {
        "query": {"bool": b},
        "size": req.size,
        # The id tiebreak makes the order total, so search_after neither repeats nor skips a
        # document while others are being indexed.
        "sort": [{field_name: {"order": "desc" if sort.startswith("-") else "asc", "missing": "_last"}},
                 {"id": {"order": "asc"}}],
        "track_total_hits": True,
        "aggs": {f: {"terms": {"field": f, "size": 20}} for f in res.facets},
    }
    if req.cursor:
        body["search_after"] = decode_cursor(req.cursor, sort)
    return body


def build_get(res: Resource, who: Principal, doc_id: str) -> dict[str, Any]:
    b = _base_bool(res, who)
    b["filter"].append({"term": {"id": doc_id}})
    return {"query": {"bool": b}, "size": 1}


def public(source: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in source.items() if k not in HIDDEN}


def to_page(res: Resource, req: SearchRequest, resp: dict[str, Any]) -> dict[str, Any]:
    hits = resp.get("hits", {}).get("hits", [])
    sort = req.sort or res.default_sort
    nxt = encode_cursor(sort, hits[-1]["sort"]) if len(hits) == req.size and hits else None
    total = resp.get("hits", {}).get("total", {})
    facets = {name: [{"value": b["key"], "count": b["doc_count"]} for b in agg.get("buckets", [])]
              for name, agg in (resp.get("aggregations") or {}).items()}
    return {"items": [public(h["_source"]) for h in hits],
            "total": total.get("value", 0) if isinstance(total, dict) else total,
            "facets": facets, "next_cursor": nxt}
