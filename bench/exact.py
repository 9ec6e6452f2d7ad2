"""Exactness checks of the projectors' outputs: every money amount of a sample, read back from what
the store receives (Parquet, bulk NDJSON, COPY text), must equal the command side's Decimal."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from ingestion.change_event import decode_lambda_event


def expected_amounts(event: Mapping[str, Any], sample: int = 500) -> dict[str, Decimal]:
    """transaction id -> Amount, for the first `sample` transactions (and every huge one)."""
    out: dict[str, Decimal] = {}
    for e in decode_lambda_event(event).events:
        if e.entity == "transaction" and (len(out) < sample or len(str(e.image["Amount"])) > 10):
            out[e.image["TransactionId"]] = e.image["Amount"]
    return out


def _check(kind: str, got: dict[str, Any], want: dict[str, Decimal]) -> None:
    missing = [k for k in want if k not in got]
    if missing:
        raise AssertionError(f"{kind}: {len(missing)} sampled transactions missing, e.g. {missing[0]}")
    for k, v in want.items():
        g = got[k]
        if not (isinstance(g, Decimal) and g == v and str(g) == str(v)):
            raise AssertionError(f"{kind}: {k} amount {g!r} is not exactly {v}")


def parquet_amounts(files: Mapping[str, bytes]) -> dict[str, Any]:
    import pyarrow.parquet as pq

    got: dict[str, Any] = {}
    for name, data in files.items():
        if not name.startswith("transaction"):
            continue
        t = pq.read_table(io.BytesIO(data), columns=["transaction_id", "amount"])
        if not str(t.schema.field("amount").type).startswith("decimal"):
            raise AssertionError(f"lake {name}: amount is {t.schema.field('amount').type}, not a decimal")
        got.update(zip(t.column("transaction_id").to_pylist(), t.column("amount").to_pylist()))
    return got


def ndjson_amounts(body: bytes) -> dict[str, Any]:
    lines = body.splitlines()
    got: dict[str, Any] = {}
    for doc in map(orjson.loads, lines[1::2]):
        if "transaction_id" in doc:
            a = doc["amount"]
            got[doc["transaction_id"]] = Decimal(a) if isinstance(a, str) else a  # a JSON float stays a float
    return got


def copy_amounts(tables: Mapping[str, bytes]) -> dict[str, Any]:
    data = tables.get("stage_transactions") or tables.get("transaction") or b""
    got: dict[str, Any] = {}
    if data.startswith(b'"'):  # COPY ... (FORMAT csv), every string quoted (warehouse/columnar.py)
        for f in csv.reader(io.StringIO(data.decode())):
            got[f[0]] = Decimal(f[4])
        return got
    for line in data.decode().splitlines():
        f = line.split("\t")
        got[f[0]] = Decimal(f[4])
    return got


READERS: dict[str, Callable[[Any], dict[str, Decimal]]] = {"lake": parquet_amounts, "search": ndjson_amounts, "warehouse": copy_amounts}


def check(projector: str, variant: str, output: Any, want: dict[str, Decimal]) -> None:
    _check(f"{projector}/{variant}", READERS[projector](output), want)
