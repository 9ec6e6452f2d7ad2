"""The compiled NDJSON reader (ingestion/_ndjson.c) against pyarrow.json itself: on every body it
reads, the same table down to the raw struct children; every body it does not read, left to
pyarrow.json (None), never a guess. Bodies come from hypothesis: generic JSON lines whose fields
repeat across lines (so types clash), timestamp-like strings, DynamoDB change records, and byte-level
mutations of them (truncated, bytes replaced or inserted) so malformed input is covered too."""
from __future__ import annotations

import io
import json
import os
import re
from decimal import Decimal

import pyarrow as pa
import pyarrow.json as pajson
import pybase64
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.events import kinesis_event
from ingestion import ndjson
from ingestion.columnar import CANONICAL_NUMBER

# 400 examples per property in `make test` (~10 s); a long differential run after changing the reader:
# NDJSON_FUZZ_EXAMPLES=30000 .venv/bin/python -m pytest tests/unit/test_ndjson.py (~25 min).
EXAMPLES = int(os.environ.get("NDJSON_FUZZ_EXAMPLES", "400"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pyarrow_reads(body: bytes) -> pa.Table | None:
    if not ndjson.objects_per_line(body):
        return None  # pyarrow.json may crash the process on these (test_lines_that_are_no_objects_...)
    try:
        return pajson.read_json(io.BytesIO(body), read_options=ndjson._READ)
    except pa.ArrowInvalid:
        return None


def same_array(a: pa.Array, b: pa.Array, path: str) -> None:
    assert a.type == b.type, path
    assert len(a) == len(b) and a.null_count == b.null_count, path
    assert a.is_valid().equals(b.is_valid()), path
    if pa.types.is_struct(a.type):  # the raw children too: columnar.child reads them without the parent
        for i in range(a.type.num_fields):
            same_array(a.field(i), b.field(i), f"{path}.{a.type.field(i).name}")
    elif pa.types.is_list(a.type):
        assert a.offsets.equals(b.offsets), path
        same_array(a.values, b.values, f"{path}[]")
    else:
        assert a.equals(b), path


def check(body: bytes) -> pa.Table | None:
    """The contract; returns what the native reader gave."""
    native = ndjson.read_native(body)
    expected = pyarrow_reads(body)
    if native is not None:
        try:
            body.decode()
            native.validate(full=True)
        except UnicodeDecodeError:  # pyarrow.json keeps invalid UTF-8 as it is (columnar.parse checks first)
            native.validate()
        assert expected is not None, f"native read what pyarrow.json refuses: {body[:200]!r}"
        assert native.schema == expected.schema
        assert native.num_rows == expected.num_rows
        for name in expected.column_names:
            same_array(native.column(name).combine_chunks(), expected.column(name).combine_chunks(), name)
    return native


def bench_body(n: int = 300) -> bytes:
    return b"\n".join(pybase64.b64decode(r["kinesis"]["data"]) for r in kinesis_event(n)["Records"])


def test_the_reader_is_built_and_reads_the_batches_the_projectors_get():
    # Without the compiled module everything still works, through pyarrow.json, ~3x slower: a fresh
    # install must build it (setup.py), so its absence fails here rather than going unnoticed.
    assert ndjson.NATIVE, ("ingestion/_ndjson.c was not built (no C compiler when installing?): "
                           "install gcc, then `rm .venv/.installed && make install`")
    assert check(bench_body()) is not None


def test_read_falls_back_to_pyarrow_json_for_what_the_reader_leaves():
    body = b'{"a": 1.5, "b": "x"}\n{"a": 2, "b": "caf\\u00e9"}'
    assert ndjson.read_native(body) is None
    assert ndjson.read(body).equals(pyarrow_reads(body))
    with pytest.raises(pa.ArrowInvalid):  # what pyarrow.json refuses still raises
        ndjson.read(b'{"a": 1}\n{"a": ')


@pytest.mark.parametrize("body", [b"null", b" null\n{}", b'{"a":1}\nnull', b"[1]", b'{"a":1}\n5', b'"x"'])
def test_lines_that_are_no_objects_are_refused_before_pyarrow_json_sees_them(body):
    # pyarrow.json 25.0.1 dies with SIGSEGV on a first line `null` (seen here): a Kinesis record whose
    # payload is `null` would have taken the whole projector down, not gone to the per-event path.
    assert ndjson.read_native(body) is None
    with pytest.raises(ValueError, match="not a JSON object"):
        ndjson.read(body)


@pytest.mark.parametrize("body", [
    b"", b"\n", b'{"a":1}\n\n{"a":2}', b"{}", b'{"a":1,"a":2}',
    b'{"a":-0}', b'{"a":1e3}', b'{"a":0.5}', b'{"a":01}', b'{"a":1234567890123456789}',
    b'{"a":"x\\"y"}', b'{"\xc3\xa9":1}', b'{"a":"tab\there"}', b'{"a":1}\n{"a":"1"}',
    b'{"a":{"b":1}}\n{"a":[1]}', b'{"a":2026-11-27}', b'{"a":tru}', b'{"a":nul}', b'{"a":1 ',
    b'{"a":"2026-11-27T06:00:00Z"}', b'{"a":"2026-11-27"}', b'{"a":"2026-11-27T06:00:00+01:00"}',
    b'{"a":' + b"[" * 70 + b"]" * 70 + b"}",
    # pyarrow.json drops an array's nulls before its first value, leaving an invalid array: its to fail
    b'{"a":[null,"x"]}', b'{"a":[null]}', b'{"a":[null,[]]}',
])
def test_refuses_what_it_is_not_sure_to_read_the_same(body):
    assert ndjson.read_native(body) is None
    check(body)


@pytest.mark.parametrize("body", [
    b'{"a":123456789012345678,"b":-5,"c":true,"d":false,"e":null}',
    b'{"a":"2026-11-27T06:00:00.123456Z"} \r\n{"b":[]}\n{"a":null,"b":[[1],[]]}\n',
    b'{"a":{"x":{"y":"z"}}}\n{"a":null}\n{"a":{}}\n{"a":{"w":1,"x":null}}',
    b'{"a":[[1],null,[]]}\n{"a":null}\n{"a":[[null,2]]}', b'{"a":[{"b":null},null]}',
    b'{"a":"caf\xc3\xa9 \xe2\x82\xac"}', b'{"a":"\xff\xfe"}',
    b'{ "a" : [ {"M": {"Q": {"N": "1.50"}}} , null ] , "b" : "2026-11-27 06:00:00.5+01:00" }',
])
def test_reads_what_pyarrow_json_reads(body):
    assert check(body) is not None


def test_the_reader_tells_a_written_null_from_an_absent_field():
    # The table cannot (pyarrow.json nulls both the same way); the DynamoDB decoder refuses a written one.
    body = b'{"a":{"x":null,"y":{"S":"1"}},"l":[1,null]}\n{"a":{"y":null}}\n{"a":null,"b":1}'
    native = ndjson.read_native_noted(body)
    assert native is not None and check(body) is not None
    assert native.written_nulls == {"a.x", "a.y", "a", "l[]"}
    assert ndjson.read_native_noted(b'{"a":{"x":1}}\n{"b":2}').written_nulls == frozenset()
    fallback = ndjson.read_noted(b'{"a":"caf\\u00e9","b":null}')  # an escape: pyarrow.json reads it
    assert fallback.written_nulls is None and fallback.odd_numbers is None
    assert fallback.table.column("a").to_pylist() == ["caf\u00e9"]


@pytest.mark.parametrize("number, canonical", [
    ("0", True), ("-0", True), ("-12.50", True), ("123456789012345678901234567890", True), ("0.5", True),
    ("0.00000", True), ("0.000001", True), ("-0.0000012", True), ("0.1000000000", True), ("10.000000", True),
    ("1E+5", False), ("1e-7", False), ("007", False), ("00", False), ("-01.5", False), ("0.0000001", False),
    ("0.000000", False), ("0.0000000", False),
    ("", False), ("-", False), ("1.", False), (".5", False), ("+1", False), ("1e", False), ("1e+", False),
    (" 1", False), ("1 ", False), ("NaN", False), ("Infinity", False), ("1_000", False), ("0x10", False),
    ("12a", False), ("--1", False), ("1.2.3", False), ("0.", False), ("-.5", False),
])
def test_the_reader_notes_numbers_that_are_not_canonical(number, canonical):
    # A string under a key "N" (a DynamoDB number) that str(Decimal) would not print back unchanged:
    # the lake's decoder may refuse it (no projector casts an OldImage's numbers to find out), and the
    # lake copies line numbers verbatim into JSON text. The note agrees with CANONICAL_NUMBER, and
    # with Decimal itself wherever that pattern says canonical.
    body = b'{"img":{"Amount":{"N":"1.50"},"L":[{"N":"2"}]}}\n{"img":{"Amount":{"N":"' + number.encode() + b'"}}}'
    native = ndjson.read_native_noted(body)
    assert native is not None and check(body) is not None
    assert native.odd_numbers == (frozenset() if canonical else {"img.Amount.N"})
    assert bool(re.fullmatch(CANONICAL_NUMBER, number)) == canonical
    if canonical:
        assert str(Decimal(number)) == number


@given(st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{1,12})?([eE][-+]?[0-9]{1,3})?", fullmatch=True))
@settings(max_examples=400, deadline=None)
def test_the_canonical_note_is_what_decimal_prints_back(number):
    body = b'{"img":{"Amount":{"N":"' + number.encode() + b'"}}}'
    native = ndjson.read_native_noted(body)
    assert native is not None
    noted_canonical = not native.odd_numbers
    assert noted_canonical == bool(re.fullmatch(CANONICAL_NUMBER, number))
    if noted_canonical:
        assert str(Decimal(number)) == number  # never the other way round: the rule may refuse a few more


def test_strings_of_every_length_with_each_special_byte_at_each_position():
    # The string scan reads 16 and 8 bytes at a time and copies short strings 16 bytes at a time:
    # every length across those blocks, a special byte (or one just outside the special set) at
    # every position, and the string at the very end of the body (little room left to read).
    plain = (b"abcdefghijklmnopqrstuvwxyz0123456789" * 2)[:70]
    for n in range(70):
        for last in (True, False):
            s = plain[:n]
            body = b'{"k":"' + s + b'"}' if last else b'{"k":"' + s + b'","z":' + b"1" * 17 + b"}"
            table = check(body)
            assert table is not None and table.column("k").to_pylist() == [s.decode()]
        for at in range(n):
            for bad in (b"\\", b"\x00", b"\x1f", b'"'):
                body = b'{"k":"' + plain[:at] + bad + plain[at:n] + b'"}'
                assert ndjson.read_native(body) is None, (n, at, bad)
            for fine in (b" ", b"\x7f", b"\xc3\xa9"):
                body = b'{"k":"' + plain[:at] + fine + plain[at:n] + b'"}'
                assert check(body) is not None, (n, at, fine)


# --- generated bodies ------------------------------------------------------------------------------
KEYS = st.sampled_from(["a", "b", "c", "N", "S", "M", "L", "Amount", "Lines"])
TIMESTAMPS = st.builds(
    lambda d, sep, t, frac, zone: d + sep + t + frac + zone,
    st.sampled_from(["2026-11-27", "2026-02-30", "1999-12-31", "2026-1-27", "20261127"]),
    st.sampled_from(["T", " ", "", "x"]),
    st.sampled_from(["", "06", "06:00", "06:00:00", "6:00:00"]),
    st.sampled_from(["", ".", ".5", ".123456", ",5"]),
    st.sampled_from(["", "Z", "+01:00", "-0500", "+01"]))
STRINGS = st.one_of(st.text(st.characters(codec="utf-8"), max_size=6),
                    st.text("abcXYZ019-:. ", max_size=12), TIMESTAMPS)
SCALARS = st.one_of(st.none(), st.booleans(), STRINGS,
                    st.integers(-10**20, 10**20), st.integers(-50, 50),
                    st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
ROWS = st.lists(st.dictionaries(KEYS, VALUES, min_size=1, max_size=4), min_size=1, max_size=6)


def dumps(row: object, compact: bool, ascii_only: bool) -> bytes:
    seps = (",", ":") if compact else (", ", ": ")
    return json.dumps(row, separators=seps, ensure_ascii=ascii_only).encode()


@SETTINGS
@given(ROWS, st.booleans(), st.booleans())
def test_generic_lines_read_the_same_or_are_left_to_pyarrow_json(rows, compact, ascii_only):
    check(b"\n".join(dumps(r, compact, ascii_only) for r in rows))


# DynamoDB attribute values the way the stream writes them; the shape the reader exists for.
ATTR = st.recursive(
    st.one_of(st.builds(lambda v: {"S": v}, STRINGS), st.builds(lambda v: {"N": str(v)}, st.integers(-10**6, 10**6)),
              st.builds(lambda v: {"BOOL": v}, st.booleans()), st.just({"NULL": True})),
    lambda inner: st.one_of(st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
                            st.builds(lambda v: {"M": v}, st.dictionaries(KEYS, inner, max_size=3))),
    max_leaves=8)
CHANGES = st.lists(st.builds(
    lambda op, keys, new, millis: {"eventName": op, "tableName": "Orders", "dynamodb": {
        "ApproximateCreationDateTime": millis, "Keys": keys, **({"NewImage": new} if new else {})}},
    st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), st.dictionaries(KEYS, ATTR, min_size=1, max_size=2),
    st.dictionaries(KEYS, ATTR, max_size=4), st.integers(0, 2**40)), min_size=1, max_size=6)


@SETTINGS
@given(CHANGES)
def test_dynamodb_changes_read_the_same(changes):
    check(b"\n".join(dumps(c, True, True) for c in changes))


@SETTINGS
@given(st.data())
def test_mutated_bodies_never_crash_and_never_differ(data):
    body = bytearray(data.draw(st.sampled_from(MUTABLE)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(body)))
        how = data.draw(st.sampled_from(["cut", "set", "insert"]))
        byte = data.draw(st.sampled_from(b'{}[]",:\\ \n0-9.aetnulrsfx\x00\xff'))
        if how == "cut":
            del body[at:]
        elif how == "set" and at < len(body):
            body[at] = byte
        else:
            body.insert(at, byte)
    check(bytes(body))


MUTABLE = [bench_body(3), b'{"a":[{"M":{"Q":{"N":"1"}}}],"b":{"S":"x"},"c":true}\n{"a":[],"b":null,"c":false}']
