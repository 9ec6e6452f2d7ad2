"""NDJSON to an Arrow table: the compiled one-pass reader (ingestion/_ndjson.c) where it can read the
body, pyarrow.json where it cannot. Either way the table is the one pyarrow.json reads; the reader
only refuses (returns None) what it is not sure to read the same, never guesses.

Why: pyarrow.json was ~60% of every projector's time (BENCHMARKS.md section 1). Pure: no I/O.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

_ndjson: ModuleType | None
try:
    from ingestion import _ndjson
except ImportError:  # not built (no compiler where it was installed): pyarrow.json alone, slower
    _ndjson = None

NATIVE = _ndjson is not None
_READ = pajson.ReadOptions(use_threads=False, block_size=1 << 30)  # one block: measured per core
_NULL, _BOOL, _INT, _STR, _STRUCT, _LIST = range(6)  # the node kinds of _ndjson.c
_PRIMITIVE = {_BOOL: pa.bool_(), _INT: pa.int64(), _STR: pa.string()}


def read(body: bytes) -> pa.Table:
    """The NDJSON as pyarrow.json.read_json reads it (types inferred, one chunk per column).
    Raises ValueError for a line that is not a JSON object, and pyarrow's ArrowInvalid (a ValueError
    too) for what else pyarrow.json refuses."""
    table = read_native(body)
    return table if table is not None else _read_pyarrow(body)


def _read_pyarrow(body: bytes) -> pa.Table:
    if not objects_per_line(body):
        # pyarrow.json 25 crashes the process (SIGSEGV) on a first line `null`; every other line
        # that is no object it refuses anyway, so none is handed to it.
        raise ValueError("a line of the NDJSON is not a JSON object")
    return pajson.read_json(io.BytesIO(body), read_options=_READ)


def objects_per_line(body: bytes) -> bool:
    """Every line that is not blank starts a JSON object."""
    return all(line.lstrip(b" \t\r")[:1] in (b"{", b"") for line in body.split(b"\n"))


def read_native(body: bytes) -> pa.Table | None:
    """The compiled reader alone: the table, or None for a body it leaves to pyarrow.json."""
    native = read_native_noted(body)
    return None if native is None else native.table


@dataclass(frozen=True)
class Noted:
    """A body read, and what the table cannot say (None where pyarrow.json read it): the fields where a
    line wrote a JSON `null` (an absent field reads the same), and the values of a key "N" holding a
    string that is not what str(Decimal) prints back (ingestion.columnar.CANONICAL_NUMBER: no exponent,
    no leading zero, ...). Fields are dotted paths, `[]` for an array's items."""

    table: pa.Table
    written_nulls: frozenset[str] | None
    odd_numbers: frozenset[str] | None


def read_noted(body: bytes) -> Noted:
    """`read`, with the notes of the compiled reader where it read the body."""
    native = read_native_noted(body)
    return native if native is not None else Noted(_read_pyarrow(body), None, None)


def read_native_noted(body: bytes) -> Noted | None:
    root = _ndjson.read(body) if _ndjson is not None else None
    if root is None:
        return None
    fields = root[6]
    table = pa.Table.from_arrays([_array(node) for _, node in fields], names=[name for name, _ in fields])
    return Noted(table, frozenset(_paths(root, "", 7)), frozenset(_paths(root, "", 8)))


def _paths(node: tuple[Any, ...], path: str, count: int) -> list[str]:
    """The fields whose node has a non-zero `node[count]`."""
    out = [path] if node[count] else []
    if node[0] == _STRUCT:
        for name, kid in node[6]:
            out += _paths(kid, f"{path}.{name}" if path else name, count)
    elif node[0] == _LIST:
        out += _paths(node[6][0], f"{path}[]", count)
    return out


def _array(node: tuple[Any, ...]) -> pa.Array:
    kind, length, nulls, valid, offsets, data, kids, _, _ = node
    if kind == _NULL:
        return pa.nulls(length)
    validity = pa.py_buffer(valid) if valid is not None else None
    if kind in _PRIMITIVE:
        bufs = [validity, pa.py_buffer(data)] if kind != _STR else [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
        return pa.Array.from_buffers(_PRIMITIVE[kind], length, bufs, nulls)
    if kind == _STRUCT:
        children = [_array(k) for _, k in kids]
        typ = pa.struct([pa.field(name, c.type) for (name, _), c in zip(kids, children, strict=True)])
        return pa.StructArray.from_buffers(typ, length, [validity], nulls, children=children)
    item = _array(kids[0])
    return pa.ListArray.from_buffers(pa.list_(item.type), length, [validity, pa.py_buffer(offsets)], nulls,
                                     children=[item])
