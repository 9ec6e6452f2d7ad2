"""A Kinesis Lambda event of DynamoDB changes parsed once, columnar: the shared first step of the
projectors' fast paths (projections/lake/fast.py, projections/warehouse/columnar.py,
projections/search/columnar.py).

Why (BENCHMARKS.md, issue 10): decoding DynamoDB JSON record by record into Decimal dicts costs most
of a projector's time. Here the Kinesis payloads are base64-decoded and joined as NDJSON in one call
(`ingestion/_kinesis.c`, or the Python steps where it steps aside) and parsed in one call into the
table `pyarrow.json` reads (`ingestion.ndjson`: a compiled one-pass reader, with pyarrow.json for what
it leaves); numbers stay the strings DynamoDB JSON carries until a projector casts
them (exactly) in Arrow. `parse` checks every envelope the way ingestion.change_event does and
returns None when any record needs that per-event decoder to be named with its reason; the caller
then takes its per-event path. What is inside the images is the caller's to check (`conforms`).
Pure: no I/O.
"""
from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from operator import itemgetter
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pybase64

from cqrs.resources import TABLES_BY_NAME
from ingestion import ndjson
from ingestion.change_event import OPERATIONS, TTL_PRINCIPAL

_kinesis: ModuleType | None
try:
    from ingestion import _kinesis
except ImportError:  # not built (no compiler where it was installed): the Python steps, slower
    _kinesis = None

# Every entity a change row can be (ProductCatalog holds products and their stock movements).
ENTITY_NAMES: tuple[str, ...] = tuple(sorted({t.entity for t in TABLES_BY_NAME.values()} | {"inventory_movement"}))
CODE = {n: i for i, n in enumerate(ENTITY_NAMES)}


def leaf(tag: str) -> pa.DataType:
    """The Arrow type pyarrow.json gives a DynamoDB attribute value `{tag: ...}`."""
    return pa.struct([(tag, pa.bool_() if tag == "BOOL" else pa.string())])


S, N = leaf("S"), leaf("N")
LINE = pa.struct([("M", pa.struct([("Sku", S), ("Qty", N), ("UnitPrice", N), ("LineAmount", N)]))])
# The attributes of Orders and Transactions items, each with its one DynamoDB type tag: what the
# search and warehouse fast paths take (a row of either entity is checked against all of them, as
# decode_image decodes every attribute whether a projector reads it or not).
ORDER_AND_TRANSACTION_ATTRS: dict[str, pa.DataType] = {
    "TransactionId": S, "OrderId": S, "CustomerId": S, "PaymentId": S, "Merchant": S, "Amount": N,
    "Currency": S, "Country": S, "PostedAt": S, "Version": N, "CartId": S, "Status": S,
    "TotalAmount": N, "CancelReason": S, "SagaMode": S, "CreatedAt": S, "UpdatedAt": S,
    "Lines": pa.struct([("L", pa.list_(LINE))]),
}
# Every key attribute of every table (all strings); the Keys of a change must hold nothing else.
KEYS = pa.struct(sorted({(k, leaf(kt)) for t in TABLES_BY_NAME.values()
                         for k, kt in (t.hash_key, *((t.range_key,) if t.range_key else ()))}))
# The types are inferred, not given: with an explicit schema pyarrow.json built every attribute of every
# table for every row (~110k records/s against ~160k/s inferred). The inferred shape is then checked by
# the caller, attribute by attribute (`conforms`).


def child(arr: pa.Array | None, name: str) -> pa.Array | None:
    """A struct child by name, or None when the batch never had it (inferred schemas omit it)."""
    if arr is None or not pa.types.is_struct(arr.type) or arr.type.get_field_index(name) < 0:
        return None
    return arr.field(name)


def one_chunk(col: pa.ChunkedArray) -> pa.Array:
    """A column as one array. combine_chunks copies even a single chunk (~1 ms per 10k images)."""
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def conforms(actual: pa.DataType, expected: pa.DataType, timestamp_ok: bool = False) -> bool:
    """The inferred type holds nothing beyond the expected one (children in any order, some absent).
    `timestamp_ok`: a timestamp attribute's string may have been inferred as a timestamp (pyarrow does
    that for ISO-8601 text without fractions); its cast to timestamp[us, UTC] is the same instant."""
    if pa.types.is_null(actual):
        return True
    if timestamp_ok and pa.types.is_timestamp(actual) and actual.tz is None and pa.types.is_string(expected):
        return True
    if pa.types.is_struct(expected):
        if not pa.types.is_struct(actual):
            return False
        return all(expected.get_field_index(f.name) >= 0
                   and conforms(f.type, expected.field(f.name).type, timestamp_ok) for f in actual)
    if pa.types.is_list(expected):
        return pa.types.is_list(actual) and conforms(actual.value_type, expected.value_type)
    return actual == expected


# Where the reader's notes (ndjson.Noted paths) concern the decoder: inside an image or the keys
_NEW_IMAGE, _OLD_IMAGE = "dynamodb.NewImage.", "dynamodb.OldImage."
_IMAGE_PATHS = (_NEW_IMAGE, _OLD_IMAGE, "dynamodb.Keys.")


@dataclass
class Parsed:
    """One batch parsed columnar: rows in record order, and which entity each row is."""

    records: list[Any]
    prefix: str
    op: pa.Array
    version: pa.Array  # int64; a removal is the removed Version + 1
    millis: pa.Array  # ApproximateCreationDateTime (ms)
    ttl: pa.Array  # a REMOVE by DynamoDB's TTL service principal
    sequence: pa.Array  # kinesis.sequenceNumber per row
    new: pa.StructArray | None
    old: pa.StructArray | None
    new_valid: pa.Array  # row has a NewImage (else its OldImage is the state)
    entity: pa.Array  # int8 codes into ENTITY_NAMES
    keys: pa.StructArray  # dynamodb.Keys
    body: bytes  # the NDJSON parsed (e.g. to look for a backslash once instead of per column)
    # The paths (ndjson.Noted) of numbers that are not CANONICAL_NUMBER, where the compiled reader read
    # the body (then no string holds an escape either); None where pyarrow.json read it: nothing known.
    odd_numbers: frozenset[str] | None = None

    @cached_property
    def all_new(self) -> bool:
        """Every row has a NewImage (no removals): the state is NewImage, no if_else per attribute."""
        return bool(pc.all(self.new_valid).as_py())

    def numbers_noted_canonical(self, attribute: str = "") -> bool:
        """The compiled reader read the batch (so no string holds an escape either) and noted every number
        in both images, or in their `attribute`, canonical (CANONICAL_NUMBER): no pattern needs to run."""
        if self.odd_numbers is None:
            return False  # pyarrow.json read it: nothing noted
        prefixes = (f"{_NEW_IMAGE}{attribute}.", f"{_OLD_IMAGE}{attribute}.") if attribute else (_NEW_IMAGE, _OLD_IMAGE)
        return not any(p.startswith(prefixes) for p in self.odd_numbers)

    @property
    def entity_names(self) -> list[str]:
        """The entities in the batch, in order of first appearance."""
        return [ENTITY_NAMES[c] for c in pc.unique(self.entity).to_pylist()]


# ApproximateCreationDateTime (ms) within the years 1-9999 with a day to spare (datetime's range)
_FIRST_MS, _LAST_MS = -62_135_596_800_000 + 86_400_000, 253_402_300_799_999 - 86_400_000


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(pc.fill_null(mask, False)).as_py())


def parse(event: Mapping[str, Any], prefix: str = "") -> Parsed | None:
    """The batch as Arrow arrays, or None when any envelope needs the per-event path."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        return None
    try:
        body, sequence = _payloads(records)
        if not body.isascii():
            body.decode()  # pyarrow.json keeps invalid UTF-8 that the per-event decoder refuses: fall back
        read = ndjson.read_noted(body)
        if not _no_null_attributes(body, read.written_nulls):
            return None
        parsed = _envelopes(records, read.table, sequence, prefix, body)
        if parsed is None or not _old_numbers_canonical(parsed.old, read.odd_numbers):
            return None
        parsed.odd_numbers = read.odd_numbers
        return parsed
    except (KeyError, TypeError, ValueError, binascii.Error, pa.ArrowException):
        return None


def _no_null_attributes(body: bytes, written_nulls: frozenset[str] | None) -> bool:
    """No attribute value (nor anything inside one) is a JSON `null`: the DynamoDB decoder refuses
    it, and in the table it reads as an absent attribute. Where pyarrow.json read the body (rare:
    escapes, fractions, ...) nothing says where its nulls were: any `null` besides the envelope's
    userIdentity sends the batch the per-event way."""
    if written_nulls is None:
        return body.count(b"null") == body.count(b'"userIdentity":null')
    return not any(p.startswith(_IMAGE_PATHS) for p in written_nulls)


def _payloads(records: list[Any]) -> tuple[bytes, pa.Array]:
    """The records' decoded payloads joined as NDJSON, and their sequence numbers. Raises what the
    Python steps raise for a record that is not what Kinesis delivers."""
    native = _kinesis.body(records) if _kinesis is not None else None
    if native is not None:  # ~5-6 ms per 10k records, where the steps below take ~11 (ingestion/_kinesis.c)
        body, offsets, chars = native
        return body, pa.Array.from_buffers(pa.string(), len(records), [None, pa.py_buffer(offsets), pa.py_buffer(chars)])
    # map(itemgetter) runs in C: ~1.3 ms per 10k records where two list comprehensions took 4.5-7.5 ms
    kinesis = list(map(itemgetter("kinesis"), records))
    datas = list(map(itemgetter("data"), kinesis))
    seqs = list(map(itemgetter("sequenceNumber"), kinesis))
    # pybase64 (SIMD): ~3.5 ms per 10k payloads where binascii took ~25-45 ms, with the same refusal
    # of any character outside the alphabet as the per-event decoder's base64.b64decode(validate=True).
    # validate is passed by position: the keyword made each call parse its arguments the slow way
    # (6.6 ms against 3.5 ms per 10k).
    body = b"\n".join(map(pybase64.b64decode, datas, repeat(None), repeat(True)))
    return body, pa.array(seqs, pa.string())


def _envelopes(records: list[Any], table: pa.Table, sequence: pa.Array, prefix: str, body: bytes) -> Parsed | None:
    n = len(records)
    if table.num_rows != n or sequence.null_count or not _all(pc.greater(pc.utf8_length(sequence), 0)):
        return None
    cols = {name: one_chunk(table.column(name)) for name in table.column_names}
    ddb, op, tables = cols.get("dynamodb"), cols.get("eventName"), cols.get("tableName")
    if ddb is None or op is None or tables is None or ddb.null_count or tables.null_count:
        return None
    if not pa.types.is_string(op.type) or not pa.types.is_string(tables.type) or not _all(pc.is_in(op, pa.array(OPERATIONS))):
        return None
    new, old = child(ddb, "NewImage"), child(ddb, "OldImage")
    for img in (new, old):
        if img is not None and not _conforms_shape(img):
            return None  # not an object of DynamoDB attribute values
    new_valid = pc.is_valid(new) if new is not None else pa.repeat(pa.scalar(False), n)
    is_remove = pc.equal(op, "REMOVE")
    if not _all(pc.or_(new_valid, is_remove)):
        return None  # INSERT/MODIFY without NewImage
    vn, vo = child(child(new, "Version"), "N"), child(child(old, "Version"), "N")
    vn = vn if vn is not None else pa.nulls(n, pa.string())
    vo = vo if vo is not None else pa.nulls(n, pa.string())
    if not (pa.types.is_string(vn.type) and pa.types.is_string(vo.type)):
        return None
    vsrc = pc.if_else(new_valid, vn, vo)
    # ^[0-9]{1,18}$ without a regex (~0.05 ms per 10k against ~0.35): ascii_is_decimal is false for ""
    if vsrc.null_count or not _all(pc.and_(pc.ascii_is_decimal(vsrc), pc.less_equal(pc.binary_length(vsrc), 18))):
        return None  # the per-event path names a missing or non-integer Version
    version = pc.add(pc.cast(vsrc, pa.int64()), pc.cast(is_remove, pa.int64()))
    millis = child(ddb, "ApproximateCreationDateTime")
    if millis is None or millis.null_count or not pa.types.is_int64(millis.type):
        return None
    span = pc.min_max(millis)
    if span["min"].as_py() < _FIRST_MS or span["max"].as_py() > _LAST_MS:
        return None  # outside the years 1-9999 the per-event decoder reads: it names the record
    keys = child(ddb, "Keys")
    if (keys is None or keys.null_count or not conforms(keys.type, KEYS) or not keys.type.num_fields
            or not _conforms_shape(keys)):
        return None
    has_key = pc.is_valid(keys.field(0))
    for k in range(1, keys.type.num_fields):
        has_key = pc.or_(has_key, pc.is_valid(keys.field(k)))
    if not _all(has_key):
        return None  # "record has no Keys"
    principal = child(cols.get("userIdentity"), "principalId")
    ttl = (pc.and_(is_remove, pc.fill_null(pc.equal(principal, TTL_PRINCIPAL), False))
           if principal is not None and pa.types.is_string(principal.type) else pa.repeat(pa.scalar(False), n))
    entity = _entities(tables, keys, prefix)
    if entity is None:
        return None
    return Parsed(records, prefix, op, version, millis, ttl, sequence, new, old, new_valid, entity, keys, body)


def _conforms_shape(img: pa.Array) -> bool:
    """Every attribute is an object of exactly one type tag with a value, maps and lists inside too
    (what decode_image needs before it looks inside: it refuses `{}` and `{"S": null}`)."""
    return pa.types.is_struct(img.type) and all(_attribute_values(img.field(i)) for i in range(img.type.num_fields))


# What str(Decimal(s)) prints back unchanged, as the compiled reader checks it (canonical_number):
# no exponent, no leading zero, and no fraction of 0 that Decimal prints with an exponent (0.0000001 is
# 1E-7; 0.000000 too, to keep it simple). DynamoDB itself writes its numbers so; other writers may not.
CANONICAL_NUMBER = r"-?(?:[1-9][0-9]*(?:\.[0-9]+)?|0(?:\.(?:[0-9]{1,5}|0{0,5}[1-9][0-9]*))?)"


def _number_leaves(values: pa.Array) -> list[pa.Array]:
    """The `N` strings of DynamoDB attribute values, maps and lists inside included."""
    out = []
    n, m, lst = child(values, "N"), child(values, "M"), child(values, "L")
    if n is not None and not pa.types.is_null(n.type):
        out.append(n)
    if m is not None and pa.types.is_struct(m.type):
        for i in range(m.type.num_fields):
            out += _number_leaves(m.field(i))
    if lst is not None and pa.types.is_list(lst.type):
        out += _number_leaves(pc.list_flatten(lst))
    return out


def _old_numbers_canonical(old: pa.StructArray | None, odd_numbers: frozenset[str] | None) -> bool:
    """Every OldImage number is canonical, so surely one the decoder reads (it reads them all, where the
    projectors cast only NewImage's). The compiled reader notes the others as it reads; pyarrow.json's
    bodies get a regex."""
    if old is None:
        return True
    if odd_numbers is None:
        return _canonical_numbers(old)
    return not any(p.startswith(_OLD_IMAGE) for p in odd_numbers)


def _canonical_numbers(img: pa.StructArray) -> bool:
    leaves = [leaf for i in range(img.type.num_fields) for leaf in _number_leaves(img.field(i))]
    return all(pa.types.is_string(v.type)
               and _all(pc.fill_null(pc.match_substring_regex(v, f"^{CANONICAL_NUMBER}$"), True)) for v in leaves)


def _attribute_values(values: pa.Array) -> bool:
    """Each row of `values` is null (absent) or holds exactly one non-null type tag."""
    t = values.type
    if pa.types.is_null(t):
        return True
    if not pa.types.is_struct(t):
        return False
    if t.num_fields == 1:  # the usual case, without a kernel: a valid tag object whose tag is null?
        if values.field(0).null_count != values.null_count:
            return False
    else:
        tags = pa.repeat(pa.scalar(0, pa.int8()), len(values))
        for i in range(t.num_fields):
            tags = pc.add(tags, pc.cast(pc.is_valid(values.field(i)), pa.int8()))
        if not _all(pc.equal(tags, pc.cast(pc.is_valid(values), pa.int8()))):
            return False
    m, lst = child(values, "M"), child(values, "L")
    if m is not None and not (pa.types.is_null(m.type) or _conforms_shape(m)):
        return False
    return lst is None or not pa.types.is_list(lst.type) or _attribute_values(pc.list_flatten(lst))


def _entities(tables: pa.Array, keys: pa.StructArray, prefix: str) -> pa.Array | None:
    uniq = pc.unique(tables).to_pylist()
    bare = [t[len(prefix):] if prefix and t.startswith(prefix) else t for t in uniq]
    codes = []
    for t in bare:
        decl = TABLES_BY_NAME.get(t)
        if decl is None:
            return None
        codes.append(CODE[decl.entity])
    entity = pa.array(codes, pa.int8()).take(pc.index_in(tables, pa.array(uniq)))
    if "ProductCatalog" in bare:  # a ProductCatalog row that is not the product (TranID "0") is a movement
        tran = child(child(keys, "TranID"), "S")
        moved = pc.fill_null(pc.not_equal(tran, "0"), True) if tran is not None else pa.scalar(True)
        movement = pc.and_(pc.equal(entity, pa.scalar(CODE["product"], pa.int8())), moved)
        entity = pc.if_else(movement, pa.scalar(CODE["inventory_movement"], pa.int8()), entity)
    return entity
