"""The lake's explicit schema: one change-log table per entity, columns per docs/DOMAIN.md.

Every change-log row carries the change metadata (`op`, `version`, `event_time`, `sequence_number`,
`is_ttl_expiry`, `ingested_at`) and the entity's attributes in snake_case. Money and quantities are
decimal128(38, s) exactly; timestamps are timestamp[us, UTC]. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal["string", "decimal", "bool", "timestamp", "json", "bigint"]
UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # snake_case column
    attr: str  # DynamoDB attribute it comes from
    kind: Kind
    scale: int = 0  # decimals only
    money: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        return arrow_type(self.kind, self.scale)

    @property
    def glue_type(self) -> str:
        return glue_type(self.kind, self.scale)


def arrow_type(kind: str, scale: int = 0) -> pa.DataType:
    return {"string": pa.string(), "json": pa.string(), "bool": pa.bool_(), "timestamp": UTC_TS,
            "bigint": pa.int64()}.get(kind) or pa.decimal128(38, scale)


def glue_type(kind: str, scale: int = 0) -> str:
    return {"string": "string", "json": "string", "bool": "boolean", "timestamp": "timestamp",
            "bigint": "bigint"}.get(kind) or f"decimal(38,{scale})"


def from_glue_type(t: str) -> tuple[str, int]:
    """A Glue column type -> (kind, scale); the inverse of glue_type (json reads back as string)."""
    t = t.strip().lower()
    if t.startswith("decimal"):
        return "decimal", int(t.split(",")[1].rstrip(")"))
    return {"string": "string", "boolean": "bool", "timestamp": "timestamp", "bigint": "bigint"}.get(t, "string"), 0


def S(name: str, attr: str) -> Column:
    return Column(name, attr, "string")


def money(name: str, attr: str) -> Column:
    return Column(name, attr, "decimal", 2, money=True)


def qty(name: str, attr: str) -> Column:
    return Column(name, attr, "decimal", 0)


def ts(name: str, attr: str) -> Column:
    return Column(name, attr, "timestamp")


# Change metadata: not attributes of the item, filled from the ChangeEvent.
META: tuple[tuple[str, pa.DataType, str], ...] = (
    ("op", pa.string(), "string"),
    ("version", pa.int64(), "bigint"),
    ("event_time", UTC_TS, "timestamp"),
    ("sequence_number", pa.string(), "string"),
    ("is_ttl_expiry", pa.bool_(), "boolean"),
    ("ingested_at", UTC_TS, "timestamp"),
)
META_NAMES = frozenset(n for n, _, _ in META)


@dataclass(frozen=True)
class Entity:
    name: str  # ChangeEvent.entity
    keys: tuple[str, ...]  # key column names
    columns: tuple[Column, ...]
    statuses: tuple[str, ...] = ()  # known values of `status`, when it has one
    positive: tuple[str, ...] = ()  # quantities that must be > 0
    sets: tuple[tuple[str, tuple[str, ...]], ...] = ()  # other enumerations

    @property
    def table(self) -> str:
        return f"{self.name}_changes"

    @property
    def attrs(self) -> frozenset[str]:
        return frozenset(c.attr for c in self.columns)


ENTITIES: dict[str, Entity] = {e.name: e for e in (
    Entity("order", ("order_id",), (
        S("order_id", "OrderId"), S("customer_id", "CustomerId"), S("cart_id", "CartId"), S("status", "Status"),
        Column("lines", "Lines", "json"), money("total_amount", "TotalAmount"), S("currency", "Currency"),
        S("cancel_reason", "CancelReason"), S("saga_mode", "SagaMode"), ts("created_at", "CreatedAt"),
        ts("updated_at", "UpdatedAt")),
        statuses=("PENDING", "CONFIRMED", "CANCELLED"),
        sets=(("cancel_reason", ("OUT_OF_STOCK", "PAYMENT_DECLINED", "TIMEOUT")),
              ("saga_mode", ("choreography", "orchestration")))),
    # One row per order line, derived from the order's Lines (a view joins it to the order's latest version).
    Entity("order_line", ("order_id", "line_no"), (
        S("order_id", "OrderId"), Column("line_no", "LineNo", "bigint"), S("sku", "Sku"), qty("qty", "Qty"),
        money("unit_price", "UnitPrice"), money("line_amount", "LineAmount"), ts("created_at", "CreatedAt")),
        positive=("qty",)),
    Entity("cart", ("cart_id",), (
        S("cart_id", "CartId"), S("customer_id", "CustomerId"), Column("cart_items", "CartItems", "json"),
        qty("item_count", "ItemCount"),  # derived: the sum of CartItems' Qty
        Column("checked_out", "CheckOut", "bool"), S("status", "Status"), qty("conflict_count", "ConflictCount"),
        ts("created_at", "CreatedAt"), ts("updated_at", "UpdatedAt"), qty("expires_at", "ExpiresAt")),
        statuses=("OPEN", "CHECKING_OUT", "CHECKED_OUT", "ABANDONED")),
    Entity("product", ("product_id",), (
        S("product_id", "ProductID"), S("name", "Name"), S("category", "Category"), money("price", "Price"),
        qty("qty", "Qty"), ts("last_update", "LastUpdate"))),
    Entity("inventory_movement", ("product_id", "movement_id"), (
        S("product_id", "ProductID"), S("movement_id", "TranID"), S("action", "Action"), qty("qty", "Qty"),
        S("reason", "Reason"), S("order_id", "OrderId"), ts("moved_at", "DateTime")),
        positive=("qty",),
        sets=(("action", ("ADD", "SUB")), ("reason", ("INITIAL", "RESTOCK", "ORDER", "RELEASE", "ADJUST")))),
    Entity("payment", ("payment_id",), (
        S("payment_id", "PaymentId"), S("order_id", "OrderId"), S("customer_id", "CustomerId"),
        money("amount", "Amount"), S("currency", "Currency"), S("status", "Status"),
        S("decline_reason", "DeclineReason"), S("merchant", "Merchant"), S("country", "Country"),
        ts("created_at", "CreatedAt"), ts("updated_at", "UpdatedAt")),
        statuses=("CAPTURED", "DECLINED", "REFUNDED")),
    Entity("transaction", ("transaction_id",), (
        S("transaction_id", "TransactionId"), S("customer_id", "CustomerId"), S("payment_id", "PaymentId"),
        S("merchant", "Merchant"), money("amount", "Amount"), S("currency", "Currency"), S("country", "Country"),
        ts("posted_at", "PostedAt"))),
    Entity("alert", ("alert_id",), (
        S("alert_id", "AlertId"), S("transaction_id", "TransactionId"), S("customer_id", "CustomerId"),
        S("merchant", "Merchant"), S("rule", "Rule"), S("reason", "Reason"), money("amount", "Amount"),
        S("status", "Status"), ts("raised_at", "RaisedAt")),
        statuses=("OPEN",),
        sets=(("rule", ("DUPLICATE_CHARGE", "AMOUNT_SPIKE", "FIRST_LARGE_AT_MERCHANT", "FOREIGN_COUNTRY")),)),
)}


def snake(attr: str) -> str:
    """A new attribute's column name: CamelCase -> snake_case (`GiftWrap` -> `gift_wrap`)."""
    out: list[str] = []
    for i, ch in enumerate(attr):
        if ch.isupper() and i and (not attr[i - 1].isupper() or (i + 1 < len(attr) and attr[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
