"""Columnar fast path of the search projector (issue 10): a Kinesis Lambda event of Orders and
Transactions changes -> the bulk request's NDJSON lines, assembled by Arrow (in C) without a Python
object per record or per value.

The handler (projections/search/handler.py) tries `prepare` first. It returns the same actions the
per-event path would write (one per document id, its highest version, the first such record winning
a tie, in order of each id's first appearance), each already serialized exactly as the client's
serializer (serializer.OrjsonSerializer) would serialize the per-event `bulk_body`: the same bytes
(tests/unit/test_search_columnar.py compares whole bulk bodies). The lines stay Arrow strings
(`ArrowLines`): the writer sends a batch's body joined by Arrow and checks every item's result as for
any other action (per-item retry, back-pressure, 400s reported).

`prepare` returns None, and the per-event path decides (and names every bad record), whenever the
batch is not provably plain: an envelope `ingestion.columnar.parse` refuses, another table, an
attribute or type tag outside the known shape (in the old image too: the per-event path decodes
it), a number not in canonical form (its decoding and printing must be the identity), a JSON
escape needed in any string written (`"`, `\\`, control characters), invalid UTF-8, an empty or missing key, an
order line with a missing attribute or an empty SKU, a timestamp Arrow inferred as a timestamp.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import columnar
from ingestion.change_event import ChangeEvent, from_kinesis_record
from projections.search.documents import PreparedAction
from projections.search.mappings import SPECS_BY_ENTITY, alias_name

_S, _N = columnar.S, columnar.N
ATTRS = columnar.ORDER_AND_TRANSACTION_ATTRS
_KEY_ATTR = {"transaction": "TransactionId", "order": "OrderId"}
# Numbers whose str(Decimal(n)) is n itself: no exponent, no leading zeros, no '+', and not so small
# that Decimal prints it with an exponent (0.0000001 -> 1E-7, 0.0000000 -> 0E-7: a fraction of 0
# needs a non-zero digit within its first six decimals, or at most six zeros).
_NUMBER = r"^-?([1-9][0-9]*(\.[0-9]+)?|0(\.(0{0,5}[1-9][0-9]*|0{1,6}))?)$"
_INT = r"^(0|-?[1-9][0-9]{0,17})$"  # int(Decimal(n)) prints as n and fits orjson's 64-bit integers
_UNSAFE = r'["\\\x00-\x1f]'  # what orjson would escape


class _Fallback(Exception):
    """Not provably plain: the whole batch takes the per-event path."""


@dataclass
class Prepared:
    """The actions to write, and for each the Kinesis record it came from (for failure reports)."""

    actions: list[PreparedAction]
    records: list[Any]
    rows: list[int]  # per action: its record's index in `records`
    _position: dict[tuple[str, str], int] = field(default_factory=dict)

    def change(self, key: tuple[str, str], prefix: str = "") -> ChangeEvent:
        """The decoded change behind the action for `key` (decoded on demand: only failures need it)."""
        if not self._position:
            self._position = {a.key: i for i, a in enumerate(self.actions)}
        return from_kinesis_record(self.records[self.rows[self._position[key]]], prefix)


def prepare(event: Mapping[str, Any], prefix: str = "") -> Prepared | None:
    """The batch's bulk actions, pre-serialized, or None: the per-event path must run."""
    p = columnar.parse(event, prefix)
    if p is None:
        return None
    try:
        names = p.entity_names
        if not set(names) <= set(_KEY_ATTR):
            return None
        # pyarrow refuses raw control characters and lone surrogates; with no backslash in any payload
        # no string can hold a character orjson escapes, so the per-column checks can be skipped.
        escapes = b"\\" in p.body
        return _build(p, names, columnar.ENTITY_NAMES, p.keys, prefix, escapes)
    except (_Fallback, KeyError, TypeError, ValueError, pa.ArrowException):
        return None


# --- checks ---------------------------------------------------------------------------------------
def _matches(values: pa.Array, regex: str) -> bool:
    return bool(pc.all(pc.fill_null(pc.match_substring_regex(values, regex), True)).as_py())


def _number_ok(values: pa.Array) -> None:
    if not _matches(values, _NUMBER):
        raise _Fallback


def _sub(arr: pa.Array, name: str) -> pa.Array:
    """A struct child with the parent's nulls applied; a missing child or a non-struct: fallback."""
    if not pa.types.is_struct(arr.type) or arr.type.get_field_index(name) < 0:
        raise _Fallback
    return pc.struct_field(arr, name)


def _tagged(a: pa.Array, tag: str) -> pa.Array:
    """The attribute's value under its one type tag; a present attribute without it ({}) is one the
    per-event path cannot decode: fallback."""
    if pa.types.is_null(a.type):
        return pa.nulls(len(a), pa.string())
    v = _sub(a, tag)
    if v.null_count != a.null_count:
        raise _Fallback
    return v


def _check_image(img: pa.StructArray | None, numbers_noted: bool) -> None:
    """Every attribute known, with its type tag; every number canonical (so it decodes, and prints back).
    `numbers_noted`: the reader noted none that is not columnar.CANONICAL_NUMBER (a subset of _NUMBER),
    so no pattern needs to run (~0.2 ms per number column per 10k records)."""
    if img is None:
        return
    for f in img.type:
        if pa.types.is_null(f.type):
            continue
        if f.name not in ATTRS or not _same_shape(f.type, ATTRS[f.name]):
            raise _Fallback
        a = pc.struct_field(img, f.name)
        if f.name == "Lines":
            lst = _tagged(a, "L")
            items = pc.list_flatten(lst)
            if not len(items):
                continue
            m = _tagged(items, "M")  # a line that is not a map: fallback
            for leaf in ("Sku", "Qty", "UnitPrice", "LineAmount"):
                if m.type.get_field_index(leaf) >= 0:
                    v = _tagged(pc.struct_field(m, leaf), "S" if leaf == "Sku" else "N")
                    if leaf != "Sku" and not numbers_noted:
                        _number_ok(v)
        else:
            v = _tagged(a, "N" if ATTRS[f.name] == _N else "S")
            if ATTRS[f.name] == _N and not numbers_noted:
                _number_ok(v)


def _same_shape(actual: pa.DataType, expected: pa.DataType) -> bool:
    """`actual` (inferred) holds nothing beyond `expected`: children may be absent, none extra."""
    return columnar.conforms(actual, expected)  # a string inferred as a timestamp does not conform: fallback


def _safe(values: pa.Array, escapes: bool) -> pa.Array:
    if escapes and pc.any(pc.fill_null(pc.match_substring_regex(values, _UNSAFE), False)).as_py():
        raise _Fallback
    return values


# --- building ------------------------------------------------------------------------------------
def _attr(p: Any, name: str, tag: str) -> pa.Array:
    """The projected image's attribute (NewImage, or OldImage for a removal): its `tag` child, or nulls."""
    n = len(p.op)
    want = pa.string() if tag in ("S", "N") else ATTRS[name].field(tag).type
    vals = []
    for img in (p.new, p.old):
        if img is None or img.type.get_field_index(name) < 0:
            vals.append(pa.nulls(n, want))
            continue
        a = pc.struct_field(img, name)
        v = pa.nulls(n, want) if pa.types.is_null(a.type) else _tagged(a, tag)
        if pa.types.is_null(v.type):
            v = pa.nulls(n, want)
        elif v.type != want and _same_shape(v.type, want):
            v = v.cast(want)  # e.g. only empty Lines in this batch: list<null>
        vals.append(v)
    new, old = vals
    if new.type != want or old.type != want:
        raise _Fallback
    return new if p.all_new else pc.if_else(p.new_valid, new, old)


def _field(name: str, values: pa.Array, quoted: bool = True) -> list[pa.Array | str]:
    """The pieces of `"name":"value",` per row, for one join of the whole document. Where a value is
    null the field must vanish (the per-event path drops None fields), so a column with nulls is
    joined on its own first and the document's join skips its nulls. (Every field joined on its own
    cost ~20 of search's ~65 ms per 10k records: a join per field copies each document again.)"""
    q = '"' if quoted else ""
    if not values.null_count:
        return [f'"{name}":{q}', values, f"{q},"]
    return [pc.binary_join_element_wise(f'"{name}":{q}', values, f"{q},", "")]


def _nonempty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _text(*parts: pa.Array) -> pa.Array:
    """documents._text: the non-empty parts joined by spaces."""
    joined = pc.binary_join_element_wise(*[_nonempty(x) for x in parts], " ", null_handling="skip")
    return pc.fill_null(joined, "")


def _tail(ids: pa.Array, version: pa.Array, deleted: pa.Array, ttl: pa.Array) -> list[pa.Array | str]:
    """The fields to_index_action appends to every document, and the closing brace (none is null)."""
    return ['"id":"', ids, '","version":', pc.cast(version, pa.string()), ',"deleted":',
            pc.if_else(deleted, "true", "false"), ',"ttl_expired":', pc.if_else(ttl, "true", "false"), "}"]


def _lines(p: Any, mask: pa.Array, escapes: bool) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Per order: the `skus` JSON, the `lines` JSON, `line_count` and the SKUs joined for `text`."""
    lst = _attr(p, "Lines", "L").filter(mask)
    lst = pc.fill_null(lst, pa.scalar([], lst.type))  # no Lines: [] (null lists would skew the offsets)
    n = len(lst)
    count = pc.list_value_length(lst)
    items = pc.list_flatten(lst)
    offsets = pc.subtract(lst.offsets, lst.offsets[0])
    if not len(items):
        empty = pa.repeat(pa.scalar("[]"), n)
        return empty, empty, count, pa.nulls(n, pa.string())
    m = _sub(items, "M")
    leaves = []
    for name, tag in (("Sku", "S"), ("Qty", "N"), ("UnitPrice", "N"), ("LineAmount", "N")):
        v = _tagged(_sub(m, name), tag)  # a line without the attribute: fallback
        if v.null_count:  # the per-event path writes null
            raise _Fallback
        leaves.append(v)
    sku, qty, price, amount = leaves
    if pc.any(pc.equal(sku, "")).as_py() or not _matches(qty, _INT):
        raise _Fallback  # an empty SKU is not in skus/text; a Qty int() would print differently
    _safe(sku, escapes)
    one = pc.binary_join_element_wise('{"sku":"', sku, '","qty":', qty, ',"unit_price":"', price,
                                      '","line_amount":"', amount, '"}', "")
    quoted = pc.binary_join_element_wise('"', sku, '"', "")

    def per_order(values: pa.Array, sep: str) -> pa.Array:
        return pc.fill_null(pc.binary_join(pa.ListArray.from_arrays(offsets, values), sep), "")

    lines = pc.binary_join_element_wise("[", per_order(one, ","), "]", "")
    skus = pc.binary_join_element_wise("[", per_order(quoted, ","), "]", "")
    return skus, lines, count, per_order(sku, " ")


def _build(p: Any, names: list[str], entity_names: tuple[str, ...], keys: pa.StructArray, prefix: str,
           escapes: bool) -> Prepared:
    noted = p.numbers_noted_canonical()
    for img in (p.new, p.old):
        _check_image(img, noted)
    for f in keys.type:  # decode_image decodes every key attribute; only the two S keys are known here
        k = pc.struct_field(keys, f.name)
        if f.name in _KEY_ATTR.values():
            _tagged(k, "S")
        elif pc.any(pc.is_valid(k)).as_py():
            raise _Fallback
    deleted = pc.equal(p.op, "REMOVE")
    docs, metas, ids, versions, rows, ents = [], [], [], [], [], []
    for code, entity in enumerate(entity_names):
        if entity not in names:
            continue
        mask = pc.equal(p.entity, pa.scalar(code, pa.int8()))
        key_attr = _KEY_ATTR[entity]
        if keys.type.get_field_index(key_attr) < 0:
            raise _Fallback
        doc_id = _tagged(_sub(keys, key_attr), "S").filter(mask)
        if doc_id.null_count or pc.any(pc.equal(doc_id, "")).as_py():
            raise _Fallback  # BuildError for that record: the per-event path reports it
        _safe(doc_id, escapes)

        def s(name: str, mask: pa.Array = mask) -> pa.Array:
            return _safe(_attr(p, name, "S").filter(mask), escapes)

        def money(name: str, mask: pa.Array = mask) -> pa.Array:
            return _attr(p, name, "N").filter(mask)  # canonical (checked above): str(Decimal(n)) == n

        version, dele, ttl = p.version.filter(mask), deleted.filter(mask), p.ttl.filter(mask)
        if entity == "transaction":
            tid, cid, mer, cty = s("TransactionId"), s("CustomerId"), s("Merchant"), s("Country")
            parts = [*_field("transaction_id", tid), *_field("customer_id", cid), *_field("payment_id", s("PaymentId")),
                     *_field("merchant", mer), *_field("amount", money("Amount")), *_field("currency", s("Currency")),
                     *_field("country", cty), *_field("posted_at", s("PostedAt")),
                     *_field("text", _text(tid, cid, mer, cty))]
        else:
            oid, cid, status, reason = s("OrderId"), s("CustomerId"), s("Status"), s("CancelReason")
            skus, lines, count, sku_text = _lines(p, mask, escapes)
            parts = [*_field("order_id", oid), *_field("customer_id", cid), *_field("cart_id", s("CartId")),
                     *_field("status", status), *_field("total_amount", money("TotalAmount")),
                     *_field("currency", s("Currency")), *_field("cancel_reason", reason),
                     *_field("saga_mode", s("SagaMode")), *_field("skus", skus, False),
                     *_field("line_count", pc.cast(count, pa.string()), False), *_field("lines", lines, False),
                     *_field("created_at", s("CreatedAt")), *_field("updated_at", s("UpdatedAt")),
                     *_field("text", _text(oid, cid, status, reason, sku_text))]
        docs.append(pc.binary_join_element_wise("{", *parts, *_tail(doc_id, version, dele, ttl), "",
                                                null_handling="skip"))
        alias = orjson.dumps(alias_name(SPECS_BY_ENTITY[entity].resource, prefix)).decode()
        metas.append(pc.binary_join_element_wise(
            '{"index":{"_index":' + alias + ',"_id":"', doc_id, '","version":', pc.cast(version, pa.string()),
            ',"version_type":"external","require_alias":true}}', ""))
        ids.append(doc_id)
        versions.append(version)
        rows.append(pc.indices_nonzero(mask))
        ents.append(pa.repeat(pa.scalar(code, pa.int8()), len(doc_id)))
    t = pa.table({"e": pa.concat_arrays(ents), "id": pa.concat_arrays(ids), "version": pa.concat_arrays(versions),
                  "row": pc.cast(pa.concat_arrays(rows), pa.int64())})
    keep = _highest_versions(t)  # positions in t; the documents are taken once, at the end
    aliases = {c: alias_name(SPECS_BY_ENTITY[e].resource, prefix) for c, e in enumerate(entity_names) if e in names}
    cols = [columnar.one_chunk(t.column(c)).take(keep).to_pylist() for c in ("e", "id", "version", "row")]
    lines = ArrowLines(pa.concat_arrays(metas).take(keep), pa.concat_arrays(docs).take(keep))
    actions = [PreparedAction(aliases[e], i, v, lines, k) for k, (e, i, v) in enumerate(zip(*cols[:3]))]
    return Prepared(actions, p.records, cols[3])


class ArrowLines:
    """The batch's meta and document lines as Arrow strings. A bulk body is joined by Arrow: a Python
    string per line and the client's per-line serializer call were ~15-25 ms of ~125 per 10,000
    records (cProfile of bench.paths.search_ours)."""

    __slots__ = ("docs", "metas")

    def __init__(self, metas: pa.Array, docs: pa.Array):
        self.metas, self.docs = metas, docs

    def meta(self, pos: int) -> str:
        return str(self.metas[pos].as_py())

    def source(self, pos: int) -> str:
        return str(self.docs[pos].as_py())

    def body(self, positions: list[int]) -> str:
        """Meta and document line of each position, in that order, newline-terminated (as client.bulk
        sends a list of lines)."""
        idx = pa.array(positions, pa.int64())
        pairs = pc.binary_join_element_wise(self.metas.take(idx), self.docs.take(idx), "\n")
        one = pa.ListArray.from_arrays(pa.array([0, len(pairs)], pa.int32()), pairs)
        return str(pc.binary_join(one, "\n")[0].as_py()) + "\n"


def _highest_versions(t: pa.Table) -> pa.Array:
    """Positions in t of, per (entity, id), the first row with the highest version, in order of each
    id's first row (the handler's dict: a higher version replaces the value, a tie keeps the first)."""
    by_key = [("e", "ascending"), ("id", "ascending")]
    best = pc.sort_indices(t, sort_keys=[*by_key, ("version", "descending"), ("row", "ascending")])
    first = pc.sort_indices(t, sort_keys=[*by_key, ("row", "ascending")])
    winners = best.filter(_group_starts(t.take(best)))
    firsts = first.filter(_group_starts(t.take(first)))  # same groups, same order as `winners`
    order = pc.sort_indices(t.column("row").take(firsts))  # first appearance per key
    return winners.take(order)


def _group_starts(t: pa.Table) -> pa.Array:
    n = t.num_rows
    if n == 0:
        return pa.array([], pa.bool_())
    diff = None
    for k in ("e", "id"):
        col = columnar.one_chunk(t.column(k))
        d = pc.not_equal(col.slice(1), col.slice(0, n - 1))
        diff = d if diff is None else pc.or_(diff, d)
    return pa.concat_arrays([pa.array([True]), diff])
