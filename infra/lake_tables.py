"""Glue tables of the lake: one append-only Parquet change log per entity, partitioned by `dt`.

Columns are the read-model names of docs/DOMAIN.md plus the change-log columns (`op`, `version`,
`event_time`, `sequence_number`, `is_ttl_expiry`). When the lake part publishes its Arrow schemas
(`projections.lake.schema.SCHEMAS: dict[entity, pyarrow.Schema]`), they are used instead, so the
catalog and the writer cannot drift.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from cqrs.resources import TABLES

_READ_MODEL: dict[str, tuple[str, ...]] = {
    "order": ("order_id", "customer_id", "cart_id", "status", "total_amount", "currency", "cancel_reason",
              "saga_mode", "created_at", "updated_at", "lines"),
    "cart": ("cart_id", "customer_id", "status", "checked_out", "item_count", "conflict_count",
             "created_at", "updated_at"),
    "product": ("product_id", "name", "category", "price", "qty", "last_update"),
    "inventory_movement": ("product_id", "movement_id", "action", "qty", "reason", "order_id", "moved_at"),
    "payment": ("payment_id", "order_id", "customer_id", "amount", "currency", "status", "decline_reason",
                "merchant", "country", "created_at", "updated_at"),
    "transaction": ("transaction_id", "customer_id", "payment_id", "merchant", "amount", "currency",
                    "country", "posted_at"),
    "alert": ("alert_id", "transaction_id", "customer_id", "merchant", "rule", "reason", "amount", "status",
              "raised_at"),
}
_CHANGE_LOG = (("op", "string"), ("version", "bigint"), ("event_time", "string"),
               ("sequence_number", "string"), ("is_ttl_expiry", "boolean"))
_MONEY = "decimal(38,2)"


def _hive_type(column: str) -> str:
    if column in ("total_amount", "amount", "price", "unit_price", "line_amount"):
        return _MONEY
    if column in ("qty", "item_count", "conflict_count"):
        return "decimal(38,0)"
    if column == "checked_out":
        return "boolean"
    if column == "lines":
        return ("array<struct<sku:string,qty:decimal(38,0),unit_price:decimal(38,2),"
                "line_amount:decimal(38,2)>>")
    return "string"


@dataclass(frozen=True)
class LakeTable:
    entity: str
    name: str
    prefix: str  # key prefix under the lake bucket
    columns: tuple[tuple[str, str], ...]


def _arrow_to_hive(t) -> str:  # pyarrow DataType -> Glue/Hive type string
    import pyarrow as pa

    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "bigint" if t.bit_width > 32 else "int"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{_arrow_to_hive(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{_arrow_to_hive(f.type)}" for f in t) + ">"
    if pa.types.is_binary(t):
        return "binary"
    raise TypeError(f"no Glue type for Arrow type {t}")


def _entities() -> list[str]:
    seen: list[str] = []
    for t in TABLES:
        for e in (t.entity, "inventory_movement" if t.name == "ProductCatalog" else None):
            if e and e not in seen:
                seen.append(e)
    return seen


def lake_tables() -> tuple[LakeTable, ...]:
    try:
        schemas = importlib.import_module("projections.lake.schema").SCHEMAS
    except (ModuleNotFoundError, AttributeError):
        schemas = None
    out = []
    for e in _entities():
        if schemas is not None and e in schemas:
            cols = tuple((f.name, _arrow_to_hive(f.type)) for f in schemas[e] if f.name != "dt")
        else:
            cols = tuple((c, _hive_type(c)) for c in _READ_MODEL[e]) + _CHANGE_LOG
        out.append(LakeTable(e, f"{e}_changes", f"changes/entity={e}/", cols))
    return tuple(out)



