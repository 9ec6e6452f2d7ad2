"""The search indices: one per searchable entity, each behind an alias, created from an index
template with an explicit, strict mapping. Pure data: no client here.

Money is a `scaled_float` with scaling factor 100 (DOMAIN.md: money has two decimals, so the
indexed value is an exact count of cents and range filters, sorts and sums are exact), and the
document carries it as a JSON *string* ("12.34"): `_source`, which is what the API returns, keeps
the decimal text byte for byte and no float ever appears. A keyword twin would only duplicate that.

`dynamic: strict`: a document with a field the mapping does not name is rejected (a 400 for that
item, which goes to the on-failure destination) instead of silently growing the mapping. The
builder (`documents.py`) writes only the fields listed here, so a new attribute on the command side
is ignored until someone adds it to both places on purpose.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KEYWORD = {"type": "keyword"}
TEXT = {"type": "text"}
DATE = {"type": "date"}
LONG = {"type": "long"}
BOOL = {"type": "boolean"}
MONEY = {"type": "scaled_float", "scaling_factor": 100}

# Every document, live or tombstone, carries these.
COMMON: dict[str, Any] = {
    "id": KEYWORD,            # the aggregate id, also the document _id and the pagination tiebreak
    "version": LONG,          # the aggregate's Version (also the external document version)
    "deleted": BOOL,          # a versioned tombstone: never returned by the API
    "ttl_expired": BOOL,      # the removal was a DynamoDB TTL expiry, not a user delete
    "text": TEXT,             # the full-text field: chosen attributes, see documents.py
}


@dataclass(frozen=True)
class IndexSpec:
    resource: str                # alias suffix and API path segment: "orders"
    entity: str                  # ChangeEvent.entity
    fields: dict[str, Any]       # mapping properties beyond COMMON
    time_field: str | None       # the default sort and the from/to filter
    customer_scoped: bool        # documents belong to one customer

    def mapping(self) -> dict[str, Any]:
        return {"dynamic": "strict", "properties": {**COMMON, **self.fields}}


SPECS: tuple[IndexSpec, ...] = (
    IndexSpec("orders", "order", {
        "order_id": KEYWORD, "customer_id": KEYWORD, "cart_id": KEYWORD, "status": KEYWORD,
        "total_amount": MONEY, "currency": KEYWORD, "cancel_reason": KEYWORD, "saga_mode": KEYWORD,
        "skus": KEYWORD, "line_count": LONG, "created_at": DATE, "updated_at": DATE,
        "lines": {"type": "object", "dynamic": "strict", "properties": {
            "sku": KEYWORD, "qty": LONG, "unit_price": MONEY, "line_amount": MONEY}},
    }, "created_at", True),
    IndexSpec("carts", "cart", {
        "cart_id": KEYWORD, "customer_id": KEYWORD, "status": KEYWORD, "checked_out": BOOL,
        "item_count": LONG, "skus": KEYWORD, "conflict_count": LONG, "created_at": DATE,
        "updated_at": DATE, "expires_at": DATE,
    }, "updated_at", True),
    IndexSpec("products", "product", {
        "product_id": KEYWORD, "name": TEXT, "name_sort": KEYWORD, "category": KEYWORD,
        "price": MONEY, "qty": LONG, "last_update": DATE,
    }, "last_update", False),
    IndexSpec("transactions", "transaction", {
        "transaction_id": KEYWORD, "customer_id": KEYWORD, "payment_id": KEYWORD, "merchant": KEYWORD,
        "amount": MONEY, "currency": KEYWORD, "country": KEYWORD, "posted_at": DATE,
    }, "posted_at", True),
    IndexSpec("alerts", "alert", {
        "alert_id": KEYWORD, "transaction_id": KEYWORD, "customer_id": KEYWORD, "merchant": KEYWORD,
        "rule": KEYWORD, "reason": TEXT, "amount": MONEY, "status": KEYWORD, "raised_at": DATE,
    }, "raised_at", True),
)

SPECS_BY_RESOURCE = {s.resource: s for s in SPECS}
SPECS_BY_ENTITY = {s.entity: s for s in SPECS}

# Not indexed, by design: inventory movements (immutable stock ledger rows; the product document
# carries the current stock, and the lake/warehouse keep the ledger) and payments (their outcome
# is on the order's status and on the posted transaction; nobody searches payments themselves).
SKIPPED_ENTITIES = frozenset({"inventory_movement", "payment"})


def index_prefix(table_prefix: str) -> str:
    """Index names must be lower case; the stack's table prefix namespaces them too."""
    return table_prefix.lower()


def alias_name(resource: str, prefix: str = "") -> str:
    return f"{index_prefix(prefix)}{resource}"


def template_body(spec: IndexSpec, prefix: str = "") -> dict[str, Any]:
    return {
        "index_patterns": [f"{alias_name(spec.resource, prefix)}-v*"],
        "priority": 100,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 1,
                         # Tombstones are documents, so gc_deletes does not bound how long a
                         # delete wins over a stale update (ARCHITECTURE.md invariant 3).
                         "refresh_interval": "1s"},
            "mappings": spec.mapping(),
        },
    }
