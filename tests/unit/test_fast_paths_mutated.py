"""Each projector's columnar fast path on mutated batches: it builds exactly what the per-event path
builds for the same batch, or steps aside. Never a third answer.

A batch of bench changes (transactions, orders with lines, MODIFYs with old images) gets one to three
values replaced somewhere in a record's payload (an attribute, a type tag, a line of an order, a key,
the envelope) by a DynamoDB-shaped or arbitrary JSON value, or a field removed. Hand-picked cases live
in test_lake_fast.py, test_search_columnar.py and test_warehouse_columnar.py; this one looks for the
shapes nobody listed.
"""
from __future__ import annotations

import base64
import copy
import os
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.events import kinesis_event as bench_event
from ingestion.change_event import decode_lambda_event
from projections.search import columnar as search_columnar
from projections.warehouse import columnar as warehouse_columnar
from projections.warehouse.rows import build_batch
from tests.factories import json_paths
from tests.unit.test_lake_fast import assert_same, both
from tests.unit.test_search_columnar import send

NUMBERS = st.sampled_from(["1", "0", "-0", "1.5", "1.555", "1E+5", "1e-7", "0.0000001", "007", " 1", "",
                           "abc", "NaN", "Infinity", "12345678901234567890123456789012345678.99",
                           "9223372036854775808", "-1"])
TEXTS = st.sampled_from(["", "x", "a\"b", "a\\b", "line\nbreak", "caf\u00e9", "2026-11-27", "2026-11-27T06:00:00Z",
                         "2026-11-27T06:00:00.5Z", "\u2028", "PENDING", "USD"])
VALUES = st.one_of(
    st.builds(lambda n: {"N": n}, NUMBERS),
    st.builds(lambda s: {"S": s}, TEXTS),
    st.just({"NULL": True}), st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"L": []}), st.just({"M": {}}), st.just({"SS": ["a"]}),
    st.builds(lambda n: {"N": n, "S": "x"}, NUMBERS),
    st.none(), st.integers(-3, 3), st.booleans(), TEXTS, st.just([]), st.just({}),
)
DELETE = object()


def _mutated(payload: dict, path: tuple, value: Any) -> dict:
    payload = copy.deepcopy(payload)
    parent = payload
    for p in path[:-1]:
        parent = parent[p]
    if value is DELETE and isinstance(parent, dict):
        del parent[path[-1]]
    elif value is not DELETE:
        parent[path[-1]] = value
    return payload


@st.composite
def mutated_batches(draw: Any) -> dict[str, Any]:
    event = bench_event(24, seed=draw(st.integers(0, 3)))
    records = [copy.deepcopy(r) for r in event["Records"]]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(records) - 1))
        payload = orjson.loads(base64.b64decode(records[i]["kinesis"]["data"]))
        path = draw(st.sampled_from([p for p in json_paths(payload) if p]))
        payload = _mutated(payload, path, draw(st.one_of(VALUES, st.just(DELETE))))
        records[i]["kinesis"]["data"] = base64.b64encode(orjson.dumps(payload)).decode()
    return {"Records": records}


# 150 examples per projector in `make test` (~5 s); a long run after changing a fast path or the reader:
# FAST_PATH_EXAMPLES=2000 .venv/bin/python -m pytest tests/unit/test_fast_paths_mutated.py (~1 min).
SETTINGS = settings(max_examples=int(os.environ.get("FAST_PATH_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(mutated_batches())
def test_the_lake_fast_path_builds_what_the_per_event_path_builds(event):
    _, _, got = both(event)
    assert_same(event, expect_fast=got is not None)


@SETTINGS
@given(mutated_batches())
def test_the_warehouse_fast_path_stages_what_the_per_event_path_stages(event):
    staged = warehouse_columnar.stage(event)
    if staged is None:
        return  # stepped aside
    decoded = decode_lambda_event(event)
    want = build_batch(decoded.events)
    assert not decoded.failures and not want.failures, "the fast path took a batch the per-event path refuses parts of"
    assert set(staged.tables) == set(want.rows)
    for name, table in staged.tables.items():
        got = sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)
        assert got == sorted(want.rows[name], key=repr), name


@SETTINGS
@given(mutated_batches())
def test_the_search_fast_path_sends_what_the_per_event_path_sends(event):
    if search_columnar.prepare(event) is None:
        return  # stepped aside
    assert not decode_lambda_event(event).failures, "the fast path took a batch with undecodable records"
    with pytest.MonkeyPatch.context() as mp:
        assert send(event, True, mp) == send(event, False, mp)
