"""The canonical current state of every entity, the same text whatever store it was read from. Pure.

A read-model row, an OpenSearch document and a DynamoDB item all become `{column: text | None}` over
the columns of the read-model views (docs/DOMAIN.md names). Exact: numbers are decimal text with
trailing zeros removed (`12.50` and `12.5` are one value, no float ever), timestamps are UTC ISO-8601
with microseconds and `Z`, booleans `true`/`false`. A row's checksum is sha256 over its sorted JSON;
an entity's checksum is sha256 over its rows sorted by key, so two stores agree exactly when their
checksums do.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from projections.lake.schema import ENTITIES


@dataclass(frozen=True)
class View:
    """One read-model view: its name, entity, key columns and the compared columns."""

    name: str
    entity: str
    table: str  # command-side table
    keys: tuple[str, ...]
    columns: tuple[str, ...]  # compared, beyond the keys and version
    versioned: bool = True  # inventory movements are immutable (Version 1) and their views carry none
    search: bool = True  # indexed in OpenSearch (payments and movements are not, by design)


VIEWS: tuple[View, ...] = (
    View("orders", "order", "Orders", ("order_id",), ("customer_id", "cart_id", "status", "total_amount",
         "currency", "cancel_reason", "saga_mode", "created_at", "updated_at")),
    View("carts", "cart", "Cart", ("cart_id",), ("customer_id", "status", "checked_out", "item_count",
         "conflict_count", "created_at", "updated_at")),
    View("products", "product", "ProductCatalog", ("product_id",), ("name", "category", "price", "qty",
         "last_update")),
    View("inventory_movements", "inventory_movement", "ProductCatalog", ("product_id", "movement_id"),
         ("action", "qty", "reason", "order_id", "moved_at"), versioned=False, search=False),
    View("payments", "payment", "Payments", ("payment_id",), ("order_id", "customer_id", "amount", "currency",
         "status", "decline_reason", "merchant", "country", "created_at", "updated_at"), search=False),
    View("transactions", "transaction", "Transactions", ("transaction_id",), ("customer_id", "payment_id",
         "merchant", "amount", "currency", "country", "posted_at")),
    View("alerts", "alert", "Alerts", ("alert_id",), ("transaction_id", "customer_id", "merchant", "rule",
         "reason", "amount", "status", "raised_at")),
)
VIEWS_BY_ENTITY = {v.entity: v for v in VIEWS}
VIEWS_BY_NAME = {v.name: v for v in VIEWS}


def _kinds(entity: str) -> dict[str, str]:
    return {c.name: c.kind for c in ENTITIES[entity].columns}


def _attrs(entity: str) -> dict[str, str]:
    return {c.name: c.attr for c in ENTITIES[entity].columns}


# --- values ------------------------------------------------------------------------------------
def num_text(v: Any) -> str:
    d = v if isinstance(v, Decimal) else Decimal(str(v)) if isinstance(v, int) else None
    if d is None:
        raise TypeError(type(v).__name__)
    if d == 0:
        return "0"
    t = format(d, "f")
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    return t


def ts_text(v: Any) -> str:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return v  # not a timestamp: compared as written (it is a drift the quarantine explains)
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)  # warehouse TIMESTAMP columns hold UTC
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(v)


def canon_value(v: Any, kind: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if kind == "timestamp":
        return ts_text(v)
    if kind in ("decimal", "bigint"):
        if isinstance(v, (Decimal, int)):
            return num_text(v)
        if isinstance(v, str):
            try:
                return num_text(Decimal(v))
            except InvalidOperation:
                return v
    if isinstance(v, (Decimal, int)):
        return num_text(v)
    if isinstance(v, datetime):
        return ts_text(v)
    return str(v)


# --- rows --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    key: tuple[str, ...]
    version: int
    values: tuple[tuple[str, str | None], ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(orjson.dumps([list(self.key), self.version, list(self.values)])).hexdigest()


def row_from_columns(view: View, data: Mapping[str, Any]) -> Row:
    """A read-model row or search document (snake_case columns) -> Row."""
    kinds = _kinds(view.entity)
    key = tuple(str(data[k]) for k in view.keys)
    version = int(data.get("version") or 1) if view.versioned else 1
    return Row(key, version, tuple((c, canon_value(data.get(c), kinds.get(c, "string"))) for c in view.columns))


def item_columns(view: View, item: Mapping[str, Any]) -> dict[str, Any]:
    """A command-side item -> the view's columns (derived ones computed as the projectors do)."""
    attrs = _attrs(view.entity)
    out: dict[str, Any] = {}
    for c in (*view.keys, *view.columns):
        if view.entity == "cart" and c == "item_count":
            items = item.get("CartItems") or {}
            out[c] = sum((it.get("Qty") or 0) for it in items.values() if isinstance(it, Mapping)) \
                if isinstance(items, Mapping) else None
        else:
            out[c] = item.get(attrs.get(c, c))
    out["version"] = item.get("Version")
    return out


def row_from_item(view: View, item: Mapping[str, Any]) -> Row:
    return row_from_columns(view, item_columns(view, item))


def columns_to_image(view: View, data: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of item_columns, for a tombstone of a key the command side no longer has: the last
    state a read model holds, as a DynamoDB-shaped image (numbers Decimal, timestamps ISO text)."""
    attrs, kinds = _attrs(view.entity), _kinds(view.entity)
    img: dict[str, Any] = {}
    for c in (*view.keys, *view.columns):
        v = data.get(c)
        if v is None or (view.entity == "cart" and c == "item_count"):
            continue
        k = kinds.get(c, "string")
        if k in ("decimal", "bigint"):
            v = Decimal(str(v))
        elif k == "timestamp":
            v = ts_text(v)
        img[attrs.get(c, c)] = v
    if view.entity == "product":
        img["TranID"] = "0"
    img["Version"] = Decimal(int(data.get("version") or 1))
    return img


def checksum(rows: Iterable[Row]) -> str:
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: r.key):
        h.update(r.digest.encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Drift:
    view: str
    store: str
    key: tuple[str, ...]
    kind: str  # "missing" | "extra" | "stale" | "ahead" | "different"
    command_version: int | None
    store_version: int | None
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"view": self.view, "store": self.store, "key": list(self.key), "kind": self.kind,
                "command_version": self.command_version, "store_version": self.store_version,
                "columns": list(self.columns)}


def diff(view: View, store: str, command: Mapping[tuple[str, ...], Row],
         other: Mapping[tuple[str, ...], Row]) -> list[Drift]:
    """Every key whose state differs between the command side and one store, and how."""
    out: list[Drift] = []
    for k in sorted(set(command) | set(other)):
        a, b = command.get(k), other.get(k)
        if b is None:
            out.append(Drift(view.name, store, k, "missing", a.version if a else None, None))
        elif a is None:
            out.append(Drift(view.name, store, k, "extra", None, b.version))
        elif a.version != b.version:
            out.append(Drift(view.name, store, k, "stale" if b.version < a.version else "ahead", a.version, b.version))
        elif a.values != b.values:
            cols = tuple(c for (c, x), (_, y) in zip(a.values, b.values) if x != y)
            out.append(Drift(view.name, store, k, "different", a.version, b.version, cols))
    return out
