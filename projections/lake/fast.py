"""The lake's columnar fast path: a Kinesis Lambda event -> the same `columns.Built` as the per-event
path, without a Python object per record or per attribute.

Why (BENCHMARKS.md, issue 10): decoding DynamoDB JSON into Decimal dicts record by record costs ~80%
of the per-event path. Here the batch is parsed once by `ingestion.columnar.parse` (ingestion.ndjson),
checked against the DynamoDB-JSON shape of every attribute the lake knows (`Amount` is
`{"N": string}`, ...); numbers stay strings until Arrow casts them to `decimal128(38, s)`, which is
exact and refuses lost digits. Everything else in C (pyarrow.compute).

The fast path only takes what it can prove equal to the per-event path; the rest falls back:
  * the whole batch (`columnar.parse` returns None) when an envelope is not what Kinesis Data Streams for
    DynamoDB writes: not base64 JSON, unknown table or eventName, no NewImage/Version, ...: the
    per-event path then names each bad record with its reason;
  * one entity (its rows go through `decode_lambda_event` + `columns.build`) when any of its rows
    carries an attribute it has no column for (schema evolution), a type tag other than the
    expected one (`{"NULL": true}`, a string amount), a value Arrow refuses (quarantine with a
    reason), a JSON column other than order `Lines`, or an extra column from the catalog of kind
    json. Carts (`CartItems` is keyed by SKU) always take that path.
Tested for equality with the per-event path in tests/unit/test_lake_fast.py. Pure: no I/O.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.change_event import (
    ChangeEvent,
    DecodeError,
    DecodeFailure,
    decode_lambda_event,
    from_kinesis_record,
)
from ingestion.columnar import (
    CANONICAL_NUMBER,
    CODE,
    ENTITY_NAMES,
    LINE,
    Parsed,
    child,
    conforms,
    leaf,
    one_chunk,
)
from projections.lake import columns
from projections.lake.schema import ENTITIES, META, UTC_TS, Column, Entity

_TAG = {"string": "S", "timestamp": "S", "decimal": "N", "bigint": "N", "bool": "BOOL"}
_LINE_FIELDS = ("LineAmount", "Qty", "Sku", "UnitPrice")  # sorted: the order to_json writes them in
_LINES_TYPE = pa.struct([("L", pa.list_(LINE))])
# Numbers copied verbatim into the `lines` JSON must be what str(Decimal(n)) prints (CANONICAL_NUMBER),
# and a Sku copied verbatim must hold no quote, backslash or control byte. Where the compiled reader
# read the batch, its notes say so at no cost (no odd number under Lines; it refuses every escape).
# Otherwise one pattern over each line's whole JSON object (~1.3 ms per 10k lines; a pattern per field
# took ~2 ms; with no quote in a Sku the match is unambiguous).
_LINE_JSON = ('^\\{"LineAmount":"' + CANONICAL_NUMBER + '","Qty":"' + CANONICAL_NUMBER
              + r'","Sku":"[^"\\\x00-\x1f]*","UnitPrice":"' + CANONICAL_NUMBER + '"\\}$')


def _image_type() -> pa.StructType:
    """Every attribute any entity has a column for, with its DynamoDB type tag (one tag per name)."""
    fields: dict[str, pa.DataType] = {"Version": leaf("N"), "TranID": leaf("S")}
    for ent in ENTITIES.values():
        if ent.name == "order_line":
            continue  # derived from order Lines, not an item
        for c in ent.columns:
            t = _LINES_TYPE if c.attr == "Lines" else leaf(_TAG[c.kind]) if c.kind in _TAG else None
            if t is None or c.attr in columns.DERIVED:
                continue  # other JSON columns (CartItems) and derived ones: the per-event path
            if fields.setdefault(c.attr, t) != t:
                raise TypeError(f"attribute {c.attr} has two DynamoDB types across entities")
    return pa.struct(list(fields.items()))


IMAGE = _image_type()
_TIMESTAMP_ATTRS = frozenset(c.attr for e in ENTITIES.values() for c in e.columns if c.kind == "timestamp")


# --- which entities the fast path cannot take --------------------------------------------------
def _odd_entities(img: pa.StructArray | None, entity: pa.Array, of: Callable[[frozenset[int]], pa.Array],
                  present: frozenset[int], expected: pa.StructType, allowed: Mapping[str, frozenset[int]]) -> set[int]:
    """The entities (codes) with a row whose image has an attribute or type tag outside IMAGE, or an
    attribute their entity has no column for: those entities go the per-event way. `of(codes)`: the
    rows of those entities. Only an attribute some entity of the batch may not carry costs a pass
    over the rows (~0.3 ms per 10k where checking every attribute row by row took ~2.4)."""
    odd: set[int] = set()
    if img is None:
        return odd
    for f in img.type:
        col = img.field(f.name)
        if col.null_count == len(col):
            continue  # no row carries it
        i = expected.get_field_index(f.name)
        if i < 0 or not conforms(f.type, expected.field(i).type, f.name in _TIMESTAMP_ATTRS):
            bad = pc.is_valid(col)
        else:
            others = present - allowed.get(f.name, frozenset())
            if not others:
                continue  # every entity in the batch may carry it
            bad = pc.and_(pc.is_valid(col), of(others))
        if pc.any(bad).as_py():
            odd.update(pc.unique(entity.filter(bad)).to_pylist())
    return odd


def _allowed_by_attr() -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for ent in ENTITIES.values():
        if ent.name not in CODE:
            continue  # order_line: derived from order Lines, never a change row of its own
        for a in (*(c.attr for c in ent.columns), *columns.IGNORED.get(ent.name, columns._ALWAYS_IGNORED)):
            out.setdefault(a, set()).add(CODE[ent.name])
    out.setdefault("TranID", set()).add(CODE["product"])
    return out


_ALLOWED_BY_ATTR = _allowed_by_attr()


def slow_entities(parsed: Parsed, known_extras: Mapping[str, Sequence[Column]]) -> set[str]:
    slow = {"cart"}  # CartItems: keyed by SKU, no fixed shape
    fields = {f.name: f.type for f in IMAGE}
    allowed = {a: set(c) for a, c in _ALLOWED_BY_ATTR.items()}
    for name, extras in known_extras.items():  # columns schema evolution added earlier
        for c in extras:
            t = leaf(_TAG[c.kind]) if c.kind in _TAG else None
            if name == "order_line" or t is None or c.attr in columns.DERIVED or fields.setdefault(c.attr, t) != t:
                slow.add("order" if name == "order_line" else name)
            else:
                allowed.setdefault(c.attr, set()).add(CODE[name])
    expected = pa.struct(list(fields.items()))
    frozen = {a: frozenset(c) for a, c in allowed.items()}
    present = frozenset(pc.unique(parsed.entity).to_pylist())
    masks: dict[frozenset[int], pa.Array] = {}

    def of(codes: frozenset[int]) -> pa.Array:  # a few entities per batch: a few masks, each made once
        if codes not in masks:
            masks[codes] = pc.is_in(parsed.entity, value_set=pa.array(sorted(codes), pa.int8()))
        return masks[codes]

    odd = (_odd_entities(parsed.new, parsed.entity, of, present, expected, frozen)
           | _odd_entities(parsed.old, parsed.entity, of, present, expected, frozen))
    slow |= {ENTITY_NAMES[c] for c in odd}
    if "order" in slow:
        slow.add("order_line")
    return slow


# --- building ----------------------------------------------------------------------------------
class _LazyEvents(Sequence[ChangeEvent]):
    """ChangeEvents decoded only for the rows that need one (quarantine, version clashes)."""

    def __init__(self, records: list[Any], rows: pa.Array, prefix: str):
        self.records, self.rows, self.prefix = records, rows, prefix
        self.cache: dict[int, ChangeEvent] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        r = self.rows[i].as_py()
        if r not in self.cache:
            self.cache[r] = from_kinesis_record(self.records[r], self.prefix)
        return self.cache[r]


def _image_leaf(img: pa.StructArray | None, idx: pa.Array, attr: str, tag: str) -> pa.Array | None:
    v = child(child(img, attr), tag)
    return None if v is None or pa.types.is_null(v.type) else v.take(idx)


def _image_field(parsed: Parsed, idx: pa.Array, attr: str, tag: str) -> pa.Array | None:
    """The projected image's `attr` (its `tag` child) for the rows `idx`: NewImage, or OldImage for a removal."""
    n = _image_leaf(parsed.new, idx, attr, tag)
    if parsed.all_new:
        return n
    o = _image_leaf(parsed.old, idx, attr, tag)
    if n is None:
        return None if o is None else pc.if_else(parsed.new_valid.take(idx), pa.nulls(len(idx), o.type), o)
    if o is None:
        o = pa.nulls(len(idx), n.type)
    return pc.if_else(parsed.new_valid.take(idx), n, o)


def _column(col: Column, leaf: pa.Array | None, n: int) -> pa.Array:
    """Raises pa.ArrowException when Arrow refuses a value: the entity then goes the per-event way."""
    t = col.arrow_type
    if leaf is None:
        return pa.nulls(n, t)
    if col.kind in ("string", "json", "bool"):  # json: order Lines, already rendered as text
        return leaf if leaf.type == t else pc.cast(leaf, t)
    return pc.cast(leaf, t)  # decimal128(38, s) / int64 from the N string, timestamp from ISO-8601


def _lines_json(lst: pa.ListArray, noted_canonical: bool) -> pa.Array | None:
    """Order `Lines` (list of {Sku, Qty, UnitPrice, LineAmount}) as the JSON text to_json writes
    (sorted keys, numbers as their exact strings), or None when some line needs the per-event path.
    `noted_canonical`: the reader's notes already say what the pattern checks."""
    items = pc.list_flatten(lst)
    m = child(items, "M")
    if m is None or items.null_count or m.null_count:
        return None
    parts = []
    for f in _LINE_FIELDS:
        v = child(child(m, f), "S" if f == "Sku" else "N")
        if v is None or not pa.types.is_string(v.type) or v.null_count:
            return None
        parts.append(v)
    one = pc.binary_join_element_wise('{"LineAmount":"', parts[0], '","Qty":"', parts[1], '","Sku":"', parts[2],
                                      '","UnitPrice":"', parts[3], '"}', "")
    if not noted_canonical and not pc.all(pc.match_substring_regex(one, _LINE_JSON)).as_py():
        return None
    offsets = pc.subtract(lst.offsets, lst.offsets[0])
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, one), ",")
    text = pc.binary_join_element_wise("[", joined, "]", "")
    return pc.if_else(pc.is_valid(lst), text, pa.nulls(len(lst), pa.string()))


def _meta(parsed: Parsed, idx: pa.Array, ingested_at: datetime) -> list[pa.Array]:
    event_time = pc.multiply(parsed.millis.take(idx), 1000).cast(pa.timestamp("us")).cast(UTC_TS)
    return [parsed.op.take(idx), parsed.version.take(idx), event_time, parsed.sequence.take(idx),
            parsed.ttl.take(idx), pa.repeat(pa.scalar(ingested_at, UTC_TS), len(idx))]


def build(parsed: Parsed, ingested_at: datetime, known_extras: Mapping[str, Sequence[Column]],
          checks: Callable[..., dict[int, tuple[str, str, str]]] | None = None,
          ) -> tuple[columns.Built, list[DecodeFailure]]:
    """The batch's entity tables (fast where provably equal, per-event for the rest) and the records
    the per-event path found undecodable."""
    out = columns.Built()
    slow = slow_entities(parsed, known_extras)
    for code in pc.unique(parsed.entity).to_pylist():  # entities in order of first appearance
        name = ENTITY_NAMES[code]
        if name in slow:
            continue
        try:
            built = _fast_entity(parsed, ENTITIES[name], pc.indices_nonzero(pc.equal(parsed.entity, pa.scalar(code, pa.int8()))), ingested_at,
                                 known_extras, checks)
        except (pa.ArrowException, KeyError, _NotFast, DecodeError):
            # DecodeError: a row the quality suite flagged is decoded for its quarantine entry and
            # cannot be: the per-event path names the record instead
            slow |= {name, "order_line"} if name == "order" else {name}
            continue
        out.batches.update(built.batches)
        out.quarantined.extend(built.quarantined)
    slow_codes = pa.array([CODE[n] for n in slow if n in CODE], pa.int8())
    slow_rows = pc.indices_nonzero(pc.is_in(parsed.entity, value_set=slow_codes)).to_pylist()
    if not slow_rows:
        return out, []
    batch = decode_lambda_event({"Records": [parsed.records[i] for i in slow_rows]}, parsed.prefix)
    rest = columns.build(batch.events, ingested_at, dict(known_extras), checks)
    out.batches.update(rest.batches)
    out.quarantined.extend(rest.quarantined)
    return out, batch.failures


class _NotFast(Exception):
    """This entity's rows need the per-event path (a shape the columnar builder does not prove equal)."""


def _fast_entity(parsed: Parsed, ent: Entity, rows: pa.Array, ingested_at: datetime,
                 known_extras: Mapping[str, Sequence[Column]],
                 checks: Callable[..., dict[int, tuple[str, str, str]]] | None) -> columns.Built:
    out = columns.Built()
    idx = pa.array(rows)
    n = len(rows)
    cols = (*ent.columns, *known_extras.get(ent.name, ()))
    arrays = _meta(parsed, idx, ingested_at)
    lines: pa.ListArray | None = None
    for c in cols:
        if c.attr == "Lines":
            lines = _image_field(parsed, idx, "Lines", "L")
            text = _lines_json(lines, parsed.numbers_noted_canonical("Lines")) if lines is not None else None
            if lines is not None and text is None:
                raise _NotFast("order lines")
            arrays.append(_column(c, text, n))
        elif c.kind in _TAG:
            arrays.append(_column(c, _image_field(parsed, idx, c.attr, _TAG[c.kind]), n))
        else:
            raise _NotFast(f"column {c.name} of kind {c.kind}")
    table = pa.Table.from_arrays(arrays, names=[m[0] for m in META] + [c.name for c in cols])
    bad = columns.finish_entity(out, ent, cols, (), table, {}, _LazyEvents(parsed.records, rows, parsed.prefix), checks)
    if ent.name == "order" and lines is not None:
        _order_lines(out, parsed, rows, bad, table, lines, known_extras, checks)
    return out


def _order_lines(out: columns.Built, parsed: Parsed, rows: pa.Array, bad: set[int], orders: pa.Table,
                 lst: pa.ListArray, known_extras: Mapping[str, Sequence[Column]],
                 checks: Callable[..., dict[int, tuple[str, str, str]]] | None) -> None:
    """One row per line of the orders that passed, carrying the order's change metadata."""
    ent = ENTITIES["order_line"]
    if bad:  # a quarantined order keeps its lines with it
        keep = pa.array([i not in bad for i in range(len(rows))])
        lst = pc.if_else(keep, lst, pa.nulls(len(lst), lst.type))
    parent = pc.list_parent_indices(lst)
    if not len(parent):
        return
    items = pc.list_flatten(lst).field("M")
    # 1, 2, ... within each order: a line's flat position minus where its order's lines start
    starts = pc.subtract(pc.take(lst.offsets, parent), lst.offsets[0])
    line_no = pc.add(pc.subtract(pa.array(range(len(parent)), pa.int64()), pc.cast(starts, pa.int64())), 1)
    pidx = parent
    arrays = [one_chunk(orders.column(m[0])).take(pidx) for m in META]
    cols = (*ent.columns, *known_extras.get("order_line", ()))
    for c in cols:
        if c.attr == "OrderId":
            arrays.append(one_chunk(orders.column("order_id")).take(pidx))
        elif c.attr == "CreatedAt":
            arrays.append(one_chunk(orders.column("created_at")).take(pidx))
        elif c.attr == "LineNo":
            arrays.append(line_no)
        elif c.attr in _LINE_FIELDS:
            arrays.append(_column(c, items.field(c.attr).field("S" if c.attr == "Sku" else "N"), len(parent)))
        else:
            raise _NotFast(f"order_line column {c.name}")
    table = pa.Table.from_arrays(arrays, names=[m[0] for m in META] + [c.name for c in cols])
    columns.finish_entity(out, ent, cols, (), table, {}, _LazyEvents(parsed.records, pc.take(rows, parent), parsed.prefix), checks)

