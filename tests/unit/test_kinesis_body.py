"""The compiled envelope step (ingestion/_kinesis.c) against the Python steps it replaces: when it
answers, the body and sequence numbers are exactly what base64.b64decode(validate=True) and the
join give; when it does not (None), the Python steps run. Generated payloads cover every tail
length and the AVX2 blocks; mutated ones put characters outside the alphabet anywhere."""
from __future__ import annotations

import base64
import binascii
import os
from collections import UserDict
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.events import kinesis_event
from ingestion import (
    _kinesis,  # built by setup.py: a missing build fails here, loudly
    columnar,
)

EXAMPLES = int(os.environ.get("NDJSON_FUZZ_EXAMPLES", "400"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def record(data: Any, seq: Any = "49600000000000000000000000000000000000000000000000000001") -> dict[str, Any]:
    return {"kinesis": {"data": data, "sequenceNumber": seq, "partitionKey": "k"}, "eventSource": "aws:kinesis"}


def python_steps(records: list[Any]) -> tuple[bytes, list[Any]] | None:
    """What columnar.parse did before the compiled step: None where it raised."""
    try:
        body = b"\n".join(base64.b64decode(r["kinesis"]["data"], validate=True) for r in records)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    return body, [r["kinesis"]["sequenceNumber"] for r in records]


def native(records: list[Any]) -> tuple[bytes, list[str]] | None:
    out = _kinesis.body(records)
    if out is None:
        return None
    body, offsets, chars = out
    seqs = pa.Array.from_buffers(pa.string(), len(records), [None, pa.py_buffer(offsets), pa.py_buffer(chars)])
    seqs.validate(full=True)
    return body, seqs.to_pylist()


def test_the_batches_the_projectors_get_are_decoded_natively_and_exactly():
    records = kinesis_event(3000, seed=11)["Records"]
    got = native(records)
    assert got is not None, "the compiled step refused a batch Kinesis writes (or this machine has no AVX2)"
    assert got == python_steps(records)
    body, sequence = columnar._payloads(records)
    assert body == got[0] and sequence.to_pylist() == got[1]


@SETTINGS
@given(st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=20),
       st.lists(st.text(min_size=1, max_size=60), min_size=20, max_size=20))
def test_any_payload_decodes_to_its_bytes(payloads, seqs):
    records = [record(base64.b64encode(p).decode(), s) for p, s in zip(payloads, seqs, strict=False)]
    assert native(records) == (b"\n".join(payloads), seqs[:len(payloads)])


_ODD = st.sampled_from(["=", "-", "_", " ", "\n", "\x00", "\x7f", "é", "€", "\U0001f600", "*", ".", ":", "@", "[", "`", "{"])


@SETTINGS
@given(st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=8), st.data())
def test_a_mutated_payload_is_decoded_the_same_or_left_to_python(payloads, data):
    texts = [base64.b64encode(p).decode() for p in payloads]
    which = data.draw(st.integers(0, len(texts) - 1))
    t = texts[which]
    pos = data.draw(st.integers(0, len(t)))
    how = data.draw(st.sampled_from(["set", "insert", "cut"]))
    odd = data.draw(st.one_of(_ODD, st.characters()))
    if how == "set" and pos < len(t):
        t = t[:pos] + odd + t[pos + 1:]
    elif how == "insert":
        t = t[:pos] + odd + t[pos:]
    else:
        t = t[:pos] + t[pos + 1:]
    texts[which] = t
    records = [record(x) for x in texts]
    got, want = native(records), python_steps(records)
    if got is not None:  # it may refuse what Python accepts, never accept what Python refuses or differ
        assert got == want


@pytest.mark.parametrize("text", ["QR==", "QUJ=", "QUJDRA=="[:-2] + "Rb==", "QQ=="[:3], "Q===", "QUJD=", "=QUJ"])
def test_what_is_not_canonical_base64_is_left_to_python(text):
    assert native([record(text)]) is None


@pytest.mark.parametrize("records", [
    [], [None], ["x"], [{"kinesis": None}], [{"kinesis": {"data": "QUJD"}}], [{"kinesis": {"sequenceNumber": "1"}}],
    [record(b"QUJD")], [record("QUJD", 7)], [record("QUJD", None)], [UserDict(record("QUJD"))],
    [{"kinesis": UserDict(record("QUJD")["kinesis"])}], [record("")], [record("QUJD"), record("\ud800AAA")],
])
def test_records_that_are_not_what_kinesis_delivers_are_left_to_python(records):
    assert _kinesis.body(records) is None


def test_not_a_list_is_left_to_python():
    assert _kinesis.body(tuple(kinesis_event(2)["Records"])) is None
    assert _kinesis.body(None) is None


def test_sequence_numbers_keep_their_text():
    records = [record("QUJD", "49-ü-1"), record("eyJhIjoxfQ==", "")]
    assert native(records) == (b'ABC\n{"a":1}', ["49-ü-1", ""])


def test_every_character_at_every_kind_of_position_is_decoded_or_refused_like_base64():
    # Each of the first 256 code points replaces one character in a SIMD block (start, middle, end),
    # in the scalar rest and in the last quad: a wrong lookup table would accept or mistranslate some.
    clean = base64.b64encode(bytes(range(200))[:100]).decode()  # 136 characters: 4 AVX2 blocks + rest
    for pos in (0, 1, 15, 16, 31, 32, 63, 100, 129, 132, 133):
        for code in range(256):
            t = clean[:pos] + chr(code) + clean[pos + 1:]
            records = [record(t), record(clean)]
            got, want = native(records), python_steps(records)
            assert got is None or got == want, (pos, code)
            if want is not None and pos < 132:
                assert got == want, (pos, code)  # a valid character anywhere but the last quad: decoded
