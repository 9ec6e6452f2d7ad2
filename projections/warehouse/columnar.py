"""Columnar fast path of the warehouse projector (issue 10): a Kinesis Lambda event of Orders and
Transactions changes -> COPY input (CSV written by Arrow, in C) per staging table, without a Python
object per record or per value.

The handler (projections/warehouse/handler.py) tries this first, before any per-event decoding.
`project` returns None whenever the per-event path must decide: a batch it cannot prove plain, or
any load error (the per-event path then applies again, which the version-guarded MERGEs make
harmless, bisects what the warehouse refuses and reports every failure and retry as today).

Same rows as `rows.build_batch(decode_lambda_event(event).events)` (tests/unit/test_warehouse_columnar.py
compares them value by value), or None: the whole batch takes the per-event path, which names every bad
record with its reason, whenever anything is not provably plain: another table, an attribute or a type
tag outside the known shape, a number or timestamp not in canonical form (regexes below), money with
more than two decimals or more than 36 integer digits, a missing key. Parsing and envelope checks are
`ingestion.columnar.parse`, shared with the lake's and the search projector's fast paths.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingestion import columnar
from projections.warehouse.rows import STAGES

MONEY = pa.decimal128(38, 2)
TS = pa.timestamp("us")
_S, _N = columnar.S, columnar.N
ATTRS = columnar.ORDER_AND_TRANSACTION_ATTRS
# Canonical forms whose meaning Arrow and Python agree on exactly (anything else: per-event path).
_MONEY_RE = r"^-?(0|[1-9][0-9]{0,35})(\.[0-9]{1,2})?$"  # fits DECIMAL(38,2), at most two decimals
_INT_RE = r"^-?(0|[1-9][0-9]{0,17})$"  # fits int64 and DECIMAL(38,0)
_TS_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$"
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed")  # every string quoted: "" != NULL


class _Fallback(Exception):
    """Not provably plain: the whole batch takes the per-event path."""


@dataclass
class Staged:
    tables: dict[str, pa.Table]  # staging table -> its rows, deduplicated as build_batch does
    records: int

    def csv(self) -> dict[str, bytes]:
        """COPY <table> (<columns>) FROM STDIN (FORMAT csv) input per staging table."""
        return {name: to_csv(t) for name, t in self.tables.items()}


def to_csv(t: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(t, buf, _CSV)
    return buf.getvalue()


def stage(event: Mapping[str, Any], prefix: str = "") -> Staged | None:
    p = columnar.parse(event, prefix)
    if p is None:
        return None
    try:
        item_keys = p.keys
        names = set(p.entity_names)
        if not names <= {"transaction", "order"}:
            raise _Fallback
        for img in (p.new, p.old):
            if img is not None:
                for f in img.type:
                    if f.name not in ATTRS or not columnar.conforms(f.type, ATTRS[f.name]):
                        raise _Fallback
        return _build(p, columnar.ENTITY_NAMES, item_keys)
    except (_Fallback, pa.ArrowInvalid):
        return None


def project(warehouse: Any, event: Mapping[str, Any], prefix: str, batch_size: int) -> Any:
    """Apply the event's changes in micro-batches of `batch_size` records (as projector.project
    does), or None: the per-event path must run (see the module's docstring)."""
    from projections.warehouse.adapters import LoadError
    from projections.warehouse.projector import Outcome
    from projections.warehouse.rows import Batch

    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records or batch_size < 1:
        return None
    chunks = [records[i:i + batch_size] for i in range(0, len(records), batch_size)]
    staged = [stage({"Records": c}, prefix) for c in chunks]
    if any(s is None for s in staged):
        return None
    out = Outcome()
    try:
        for s in staged:
            out.loads += 1
            warehouse.apply(Batch(arrow=s.tables))  # type: ignore[union-attr]
            out.applied += s.records  # type: ignore[union-attr]
    except LoadError:
        return None
    return out


def _attr(p: Any, name: str, tag: str | None = None) -> pa.Array:
    """The projected image's attribute (NewImage, or OldImage for a removal), its `tag` child."""
    n = len(p.op)
    vals = []
    for img in (p.new, p.old):
        a = img.field(name) if img is not None and img.type.get_field_index(name) >= 0 else None
        if a is not None and tag is not None:
            a = a.field(tag) if pa.types.is_struct(a.type) and a.type.get_field_index(tag) >= 0 else None
        vals.append(a)
    want = pa.string() if tag is not None else ATTRS[name]
    new, old = (pa.nulls(n, want) if v is None or pa.types.is_null(v.type) else v for v in vals)
    if new.type != want or old.type != want:
        raise _Fallback  # e.g. a timestamp inferred from a string without fractions
    return new if p.all_new else pc.if_else(p.new_valid, new, old)


def _checked(values: pa.Array, regex: str) -> pa.Array:
    """`values` where each non-null one matches `regex`, else the per-event path decides."""
    if not pc.all(pc.fill_null(pc.match_substring_regex(values, regex), True)).as_py():
        raise _Fallback
    return values


def _ts(values: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(_checked(values, _TS_RE), pa.timestamp("us", "UTC")), TS)


def _dedupe(t: pa.Table, key: list[str], by_version: bool = True) -> pa.Table:
    """Per key the highest version, the later row winning a tie (rows._pick)."""
    t = t.append_column("_row", pa.array(range(t.num_rows), pa.int64()))
    order = [(k, "ascending") for k in key] + ([("version", "descending")] if by_version else []) + [
        ("_row", "descending")]
    t = t.take(pc.sort_indices(t, sort_keys=order))
    first = None
    for k in key:
        col = columnar.one_chunk(t.column(k))
        diff = pc.not_equal(col.slice(1), col.slice(0, len(col) - 1))
        first = diff if first is None else pc.or_(first, diff)
    keep = pa.concat_arrays([pa.array([True]), first]) if t.num_rows else pa.array([], pa.bool_())
    return t.filter(keep).drop_columns(["_row"])


def _build(p: Any, entity_names: tuple[str, ...], item_keys: pa.Array | None) -> Staged:
    code = {n: i for i, n in enumerate(entity_names)}
    deleted = pc.equal(p.op, "REMOVE")
    tables: dict[str, pa.Table] = {}
    seen: list[tuple[pa.Array, pa.Array]] = []  # (customer_id, when) per entity: customers and dates
    for entity, key_attr in (("transaction", "TransactionId"), ("order", "OrderId")):
        mask = pc.equal(p.entity, pa.scalar(code[entity], pa.int8()))
        if not pc.any(mask).as_py():
            continue
        keys = _child_s(item_keys, key_attr)
        if keys is None or keys.filter(mask).null_count:
            raise _Fallback  # the per-event path names the missing key
        def col(name: str, tag: str = "S", mask: pa.Array = mask) -> pa.Array:
            return _attr(p, name, tag).filter(mask)

        version, dele = p.version.filter(mask), deleted.filter(mask)
        k = keys.filter(mask)
        cid = col("CustomerId")
        if entity == "transaction":
            when = _ts(col("PostedAt"))
            t = pa.table([k, cid, col("PaymentId"), col("Merchant"), _checked(col("Amount", "N"), _MONEY_RE).cast(MONEY),
                          col("Currency"), col("Country"), when, version, dele],
                         names=list(STAGES["stage_transactions"].columns))
            tables["stage_transactions"] = _dedupe(t, ["transaction_id"])
        else:
            when = _ts(col("CreatedAt"))
            t = pa.table([k, cid, col("CartId"), col("Status"), _checked(col("TotalAmount", "N"), _MONEY_RE).cast(MONEY),
                          col("Currency"), col("CancelReason"), col("SagaMode"), when, _ts(col("UpdatedAt")), version,
                          dele], names=list(STAGES["stage_orders"].columns))
            tables["stage_orders"] = _dedupe(t, ["order_id"])
            lines = _attr(p, "Lines").filter(mask)
            lst = pc.struct_field(lines, "L")
            if lst.null_count != lines.null_count:
                raise _Fallback  # Lines of another type tag
            flat = pc.list_flatten(lst)
            parent = pc.list_parent_indices(lst)
            if flat.null_count or pc.struct_field(flat, "M").null_count:
                raise _Fallback  # a line that is not a map
            m = pc.struct_field(flat, "M")
            offsets = pc.take(lst.offsets, parent) if len(flat) else pa.array([], pa.int32())
            line_no = pc.add(pc.subtract(pa.array(range(len(flat)), pa.int64()), pc.cast(offsets, pa.int64())), 1)

            def leaf(name: str, tag: str, m: pa.Array = m) -> pa.Array:
                return pc.struct_field(pc.struct_field(m, name), tag)

            lt = pa.table([k.take(parent), pc.cast(line_no, pa.int32()), leaf("Sku", "S"),
                           pc.cast(_checked(leaf("Qty", "N"), _INT_RE), pa.int64()),
                           _checked(leaf("UnitPrice", "N"), _MONEY_RE).cast(MONEY),
                           _checked(leaf("LineAmount", "N"), _MONEY_RE).cast(MONEY),
                           when.take(parent), version.take(parent), dele.take(parent)],
                          names=list(STAGES["stage_order_lines"].columns))
            if lt.num_rows:
                tables["stage_order_lines"] = _dedupe(lt, ["order_id", "line_no"])
        seen.append((cid, when))
    cids = pa.concat_arrays([c for c, _ in seen])
    whens = pa.concat_arrays([w for _, w in seen])
    have = pc.is_valid(whens)
    cust = pa.table({"customer_id": cids, "first_seen_at": whens}).filter(pc.and_(have, pc.is_valid(cids)))
    if cust.num_rows:  # the earliest sighting wins
        cust = cust.group_by("customer_id", use_threads=False).aggregate([("first_seen_at", "min")])
        tables["stage_customers"] = cust.rename_columns(["customer_id", "first_seen_at"]).select(
            ["customer_id", "first_seen_at"])
    days = pc.unique(pc.cast(whens.filter(have), pa.date32()))
    if len(days):
        tables["stage_dates"] = pa.table({"date_key": days})
    return Staged(tables, len(p.op))


def _child_s(k: pa.Array | None, key_attr: str) -> pa.Array | None:
    if k is None or k.type.get_field_index(key_attr) < 0:
        return None
    k = k.field(key_attr)
    if not pa.types.is_struct(k.type) or k.type.get_field_index("S") < 0 or not pa.types.is_string(k.type.field("S").type):
        return None
    return k.field("S")
