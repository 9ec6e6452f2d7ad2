"""The search projector's columnar path sends exactly the bulk request of the per-event path (the
same bytes: documents, dedupe, order, action metadata, serialization), or declines the batch (None)
so that the per-event path decides.

The reference is the handler itself with the columnar path switched off. The OpenSearch client here
is a recorder of the request body (this is a unit test of the request bytes; the real bulk against
osmem-server is in tests/integration/test_search_projector.py)."""
from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opensearchpy.client.utils import _bulk_body

from bench.events import kinesis_event as bench_event
from cqrs.settings import Settings
from projections.search import columnar, handler
from projections.search.serializer import OrjsonSerializer
from projections.search.writer import BulkWriter
from tests.factories import ORDER, TXN, D, kinesis_event, kinesis_record

BIG = D("999999999999999999999999999999999999.99")  # 38 digits
V53 = D(2**53 + 1)  # not a float's integer


class RecordingClient:
    """Answers every item 201 and keeps the body exactly as client.bulk would send it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.ser = OrjsonSerializer()

    def bulk(self, body: list[Any] | str, **_: Any) -> dict[str, Any]:
        sent = str(_bulk_body(self.ser, body))  # opensearch-py's own step: a list is serialized, a str kept
        self.bodies.append(sent.encode())
        lines = sent.removesuffix("\n").split("\n")  # not splitlines(): documents may hold U+2028
        return {"items": [{"index": {"status": 201}} for _ in lines[::2]]}


def send(event: dict[str, Any], columnar_on: bool, monkeypatch: pytest.MonkeyPatch, prefix: str = "") -> bytes:
    client = RecordingClient()
    with monkeypatch.context() as m:
        if not columnar_on:
            m.setattr(columnar, "prepare", lambda *a, **k: None)
        out = handler.process(event, search=client, s3=None, settings=Settings.from_env({}).with_(table_prefix=prefix),
                              writer=BulkWriter(client))
    assert out == {"batchItemFailures": []}
    assert len(client.bodies) == 1
    return client.bodies[0]


def same_body(event: dict[str, Any], monkeypatch: pytest.MonkeyPatch, prefix: str = "") -> bytes:
    assert columnar.prepare(event, prefix) is not None, "expected the columnar path to take this batch"
    fast, slow = send(event, True, monkeypatch, prefix), send(event, False, monkeypatch, prefix)
    assert fast == slow
    return fast


def docs(body: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    lines = [orjson.loads(x) for x in body.splitlines()]
    return list(zip(lines[::2], lines[1::2]))


def test_a_bench_batch_gives_the_per_event_body_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    body = same_body(bench_event(1500, seed=3), monkeypatch)  # 22-digit amounts, MODIFYs with old images
    assert len(docs(body)) == 1500


def test_versions_ties_removals_ttl_and_odd_values(monkeypatch: pytest.MonkeyPatch) -> None:
    recs = [
        kinesis_record("Orders", "INSERT", ORDER),
        kinesis_record("Transactions", "INSERT", TXN),
        kinesis_record("Orders", "MODIFY", {**ORDER, "Status": "CONFIRMED", "Version": D(3), "Lines": ORDER["Lines"][:1]},
                       ORDER),
        kinesis_record("Orders", "MODIFY", {**ORDER, "Status": "STALE", "Version": D(2)}, ORDER),  # reordered
        kinesis_record("Transactions", "INSERT", {**TXN, "Merchant": "tie: the first one wins"}),
        kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "t2", "Merchant": "", "Amount": BIG,
                                                  "PaymentId": "p-2", "Version": V53}),
        kinesis_record("Transactions", "REMOVE", old={**TXN, "TransactionId": "t3", "Amount": D("-0.50")}),
        kinesis_record("Transactions", "REMOVE", old={**TXN, "TransactionId": "t4", "Amount": D("0.000001")},
                       ttl=True),
        kinesis_record("Transactions", "INSERT", {k: v for k, v in {**TXN, "TransactionId": "t5"}.items()
                                                  if k in ("TransactionId", "Version")}),  # only the key
        kinesis_record("Orders", "INSERT", {**ORDER, "OrderId": "o2", "Lines": [], "CancelReason": "OUT_OF_STOCK",
                                            "Status": "CANCELLED", "TotalAmount": D("0"), "CustomerId": ""}),
        kinesis_record("Orders", "INSERT", {k: v for k, v in {**ORDER, "OrderId": "o3"}.items() if k != "Lines"}),
        kinesis_record("Orders", "REMOVE", old={**ORDER, "OrderId": "o4", "TotalAmount": BIG,
                                                "Lines": [{"Sku": "S-9", "Qty": D(0), "UnitPrice": BIG,
                                                           "LineAmount": D("-0")}]}, ttl=True),
        kinesis_record("Orders", "INSERT", {**ORDER, "OrderId": "o5", "Merchant": "é ünïcode ✓ 🚀 \x7f \u2028 \ufeff",
                                            "CustomerId": "Zoë 🚀 \x7f \u2028", "Version": V53}),
        kinesis_record("Transactions", "MODIFY", {**TXN, "TransactionId": "t6", "Version": D(9)},
                       {**TXN, "TransactionId": "t6", "Version": D(8), "Amount": D("1.5")}),
        kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "t6", "Version": D(9), "Merchant": "tie"}),
        kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "t6", "Version": D(10), "Merchant": "later"}),
    ]
    for prefix in ("", "T_Abc_"):
        body = same_body(kinesis_event(recs), monkeypatch, prefix)
        got = {(m["index"]["_index"], m["index"]["_id"]): (m, d) for m, d in docs(body)}
        assert [k[1] for k in got] == ["o1", "t1", "t2", "t3", "t4", "t5", "o2", "o3", "o4", "o5", "t6"]
        _, o1 = got[(prefix.lower() + "orders", "o1")]
        assert o1["version"] == 3 and o1["status"] == "CONFIRMED" and o1["skus"] == ["S-1"]
        assert got[(prefix.lower() + "transactions", "t1")][1]["merchant"] == "ACME"  # a tie keeps the first
        meta, t2 = got[(prefix.lower() + "transactions", "t2")]
        assert meta["index"]["version"] == 2**53 + 1 and t2["amount"] == str(BIG) and t2["merchant"] == ""
        assert t2["text"] == "t2 c1 US"  # the empty merchant is kept as a field, not in text
        assert got[(prefix.lower() + "transactions", "t4")][1]["ttl_expired"] is True
        assert got[(prefix.lower() + "transactions", "t6")][1]["merchant"] == "later"
        o4 = got[(prefix.lower() + "orders", "o4")][1]
        assert o4["deleted"] and o4["ttl_expired"] and o4["version"] == 2 and o4["lines"][0]["line_amount"] == "-0"


def test_a_batch_of_one_and_a_single_entity(monkeypatch: pytest.MonkeyPatch) -> None:
    same_body(kinesis_event([kinesis_record("Orders", "INSERT", ORDER)]), monkeypatch)
    same_body(kinesis_event([kinesis_record("Transactions", "REMOVE", old=TXN)]), monkeypatch)


def _raw(rec: dict[str, Any], fn: Any) -> dict[str, Any]:
    """`rec` with its DynamoDB JSON payload changed by fn (for shapes encode_image cannot write)."""
    payload = orjson.loads(base64.b64decode(rec["kinesis"]["data"]))
    fn(payload)
    rec["kinesis"]["data"] = base64.b64encode(orjson.dumps(payload)).decode()
    return rec


def _set_new(attr: str, value: Any) -> Any:
    return lambda p: p["dynamodb"]["NewImage"].__setitem__(attr, value)


def _set_line(attr: str, value: Any) -> Any:
    return lambda p: p["dynamodb"]["NewImage"]["Lines"]["L"][0]["M"].__setitem__(attr, value)


FALLBACKS = {
    "a quote to escape": lambda: kinesis_record("Transactions", "INSERT", {**TXN, "Merchant": 'Joe\'s "Bar"'}),
    "a backslash": lambda: kinesis_record("Transactions", "INSERT", {**TXN, "CustomerId": "a\\b"}),
    "a newline": lambda: kinesis_record("Orders", "INSERT", {**ORDER, "CancelReason": "line\nbreak"}),
    "a sku with a tab": lambda: kinesis_record("Orders", "INSERT", {**ORDER, "Lines": [{**ORDER["Lines"][0], "Sku": "a\tb"}]}),
    "a non-integer qty": lambda: kinesis_record("Orders", "INSERT", {**ORDER, "Lines": [{**ORDER["Lines"][0], "Qty": D("2.0")}]}),
    "a huge qty": lambda: kinesis_record("Orders", "INSERT", {**ORDER, "Lines": [{**ORDER["Lines"][0], "Qty": D(10**19)}]}),
    "an exponent": lambda: _raw(kinesis_record("Transactions", "INSERT", TXN), _set_new("Amount", {"N": "1E+3"})),
    "a tiny amount Decimal prints with an exponent": lambda: kinesis_record("Transactions", "INSERT", {**TXN, "Amount": D("0.0000001")}),
    "a leading zero": lambda: _raw(kinesis_record("Transactions", "INSERT", TXN), _set_new("Amount", {"N": "012.5"})),
    "not a number": lambda: _raw(kinesis_record("Transactions", "INSERT", TXN), _set_new("Amount", {"N": "abc"})),
    "a bad number in the old image": lambda: _raw(kinesis_record("Transactions", "MODIFY", TXN, TXN),
                                                  lambda p: p["dynamodb"]["OldImage"].__setitem__("Amount", {"N": "x"})),
    "a NULL attribute": lambda: kinesis_record("Transactions", "INSERT", {**TXN, "PaymentId": None}),
    "a number where a string is expected": lambda: kinesis_record("Transactions", "INSERT", {**TXN, "Merchant": D(5)}),
    "an empty attribute value": lambda: _raw(kinesis_record("Transactions", "INSERT", TXN), _set_new("Merchant", {})),
    "an attribute search does not know": lambda: kinesis_record("Transactions", "INSERT", {**TXN, "Note": "new"}),
    "a line without Sku": lambda: _raw(kinesis_record("Orders", "INSERT", ORDER),
                                       lambda p: p["dynamodb"]["NewImage"]["Lines"]["L"][0]["M"].pop("Sku")),
    "a line with an empty sku": lambda: kinesis_record("Orders", "INSERT", {**ORDER, "Lines": [{**ORDER["Lines"][0], "Sku": ""}]}),
    "a line that is not a map": lambda: _raw(kinesis_record("Orders", "INSERT", ORDER),
                                             lambda p: p["dynamodb"]["NewImage"]["Lines"]["L"].append({"S": "x"})),
    "a line with a string qty": lambda: _raw(kinesis_record("Orders", "INSERT", ORDER), _set_line("Qty", {"S": "2"})),
    "Lines of another tag": lambda: _raw(kinesis_record("Orders", "INSERT", ORDER), _set_new("Lines", {"S": "[]"})),
    "an empty key": lambda: kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": ""}),
    "a cart": lambda: kinesis_record("Cart", "INSERT", {"CartId": "k", "CustomerId": "c", "Version": D(1)}),
    "a payment (skipped by design)": lambda: kinesis_record("Payments", "INSERT", {"PaymentId": "p", "Version": D(1)}),
    "invalid UTF-8 (pyarrow keeps it, orjson refuses it)": lambda: {**(r := kinesis_record("Orders", "INSERT", ORDER)),
        "kinesis": {**r["kinesis"], "data": base64.b64encode(base64.b64decode(r["kinesis"]["data"])
                                                              .replace(b"PENDING", b"PEN\xff\xfeG")).decode()}},
    "undecodable data": lambda: {**kinesis_record("Orders", "INSERT", ORDER),
                                 "kinesis": {"sequenceNumber": "1", "data": base64.b64encode(b"{no").decode()}},
    "a fractional version": lambda: kinesis_record("Orders", "INSERT", {**ORDER, "Version": D("1.5")}),
}


@pytest.mark.parametrize("why", list(FALLBACKS))
def test_what_is_not_provably_plain_takes_the_per_event_path(why: str) -> None:
    event = kinesis_event([kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "ok"}), FALLBACKS[why]()])
    assert columnar.prepare(event) is None


def test_the_fallback_cases_are_otherwise_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard for the test above: the same batch with an ordinary second record is taken."""
    same_body(kinesis_event([kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "ok"}),
                             kinesis_record("Orders", "INSERT", ORDER)]), monkeypatch)


def test_timestamps_pyarrow_infers_as_timestamps(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = {**TXN, "PostedAt": "2026-11-27T06:22:00Z"}  # no fractions: pyarrow.json infers a timestamp
    assert columnar.prepare(kinesis_event([kinesis_record("Transactions", "INSERT", whole)])) is None
    mixed = [kinesis_record("Transactions", "INSERT", whole),  # with a fraction elsewhere: a string column
             kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "t9"})]
    assert b'"posted_at":"2026-11-27T06:22:00Z"' in same_body(kinesis_event(mixed), monkeypatch)


class Answers:
    """Fault injection (per-item statuses osmem-server cannot be made to give on demand): answers the
    chosen ids with the chosen statuses, 201 otherwise; keeps each call's ids."""

    def __init__(self, statuses: dict[str, list[int]]):
        self.statuses, self.calls = statuses, []

    def bulk(self, body: list[Any] | str, **_: Any) -> dict[str, Any]:
        assert isinstance(body, str)  # the columnar path's body, joined by Arrow
        metas = [orjson.loads(m) for m in body.removesuffix("\n").split("\n")[::2]]
        ids = [m["index"]["_id"] for m in metas]
        self.calls.append(ids)
        items = []
        for i in ids:
            st = self.statuses.get(i, [201])
            code = st.pop(0) if len(st) > 1 else st[0]
            items.append({"index": {"_id": i, "status": code, "error": {"type": "x", "reason": "injected"}}
                          if code >= 300 else {"_id": i, "status": code}})
        return {"items": items}


class RecordingS3:
    def __init__(self) -> None:
        self.puts: dict[str, Any] = {}

    def put_object(self, **kw: Any) -> None:
        self.puts[kw["Key"].rsplit("/", 1)[1].removesuffix(".json")] = orjson.loads(kw["Body"])


def test_item_results_are_checked_retried_and_reported_per_record() -> None:
    recs = [kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": f"t{i}"}) for i in range(4)]
    recs.append(kinesis_record("Transactions", "INSERT", {**TXN, "TransactionId": "t2", "Version": D(2)}))
    event = kinesis_event(recs)
    assert columnar.prepare(event) is not None
    client, s3 = Answers({"t1": [429, 201], "t2": [400], "t3": [503]}), RecordingS3()
    out = handler.process(event, search=client, s3=s3, settings=Settings.from_env({}),
                          writer=BulkWriter(client, max_attempts=2, sleep=lambda _: None))
    seq = [r["kinesis"]["sequenceNumber"] for r in recs]
    # t1 healed on retry; t2's winner (the second record, version 2) refused; t3 still busy: retryable.
    assert client.calls == [["t0", "t1", "t2", "t3"], ["t1", "t3"]]
    assert out == {"batchItemFailures": [{"itemIdentifier": seq[4]}, {"itemIdentifier": seq[3]}]}
    assert list(s3.puts) == [seq[4]]  # the terminal one only: the mapping retries the other
    report = s3.puts[seq[4]]
    assert report["status"] == 400 and "injected" in report["reason"]
    assert report["change"]["version"] == 2 and report["change"]["key"] == {"TransactionId": "t2"}
    assert report["document"]["transaction_id"] == "t2" and report["document"]["amount"] == "12.30"
    assert report["record"] == recs[4]


def test_exact_money_survives_as_text() -> None:
    event = kinesis_event([kinesis_record("Transactions", "INSERT", {**TXN, "Amount": BIG})])
    prepared = columnar.prepare(event)
    assert prepared is not None
    doc = orjson.loads(prepared.actions[0].source)
    assert doc["amount"] == "999999999999999999999999999999999999.99" and Decimal(doc["amount"]) == BIG


def test_random_batches_of_duplicates_reorderings_and_removals(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    rng = random.Random(11)
    for _ in range(25):
        recs = []
        for _ in range(rng.randrange(1, 40)):
            v = D(rng.randrange(1, 5))
            amount = D(f"{rng.choice(['-', ''])}{rng.randrange(10**rng.randrange(1, 36))}.{rng.randrange(100):02d}")
            if rng.random() < 0.5:
                img = {**TXN, "TransactionId": f"t{rng.randrange(6)}", "Amount": amount, "Version": v,
                       "Merchant": rng.choice(["", "A B", "Ünï"])}
                if rng.random() < 0.5:
                    img["PaymentId"] = f"p{rng.randrange(9)}"
                table = "Transactions"
            else:
                lines = [{"Sku": f"S{rng.randrange(9)}", "Qty": D(rng.randrange(0, 9)), "UnitPrice": amount,
                          "LineAmount": amount} for _ in range(rng.randrange(0, 4))]
                img = {**ORDER, "OrderId": f"o{rng.randrange(6)}", "TotalAmount": amount, "Version": v, "Lines": lines,
                       "Status": rng.choice(["PENDING", "CANCELLED"])}
                if rng.random() < 0.3:
                    img["CancelReason"] = "X"
                table = "Orders"
            op = rng.choice(["INSERT", "MODIFY", "REMOVE"])
            recs.append(kinesis_record(table, op, None if op == "REMOVE" else img,
                                       img if op != "INSERT" else None, ttl=rng.random() < 0.5))
        same_body(kinesis_event(recs), monkeypatch)


@given(st.from_regex(r"-?[0-9]{1,8}(\.[0-9]{1,9})?", fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_every_number_the_reader_passes_as_canonical_is_one_search_takes(number: str) -> None:
    # The search fast path skips its own number pattern when the reader noted no non-canonical number.
    import re

    from ingestion.columnar import CANONICAL_NUMBER
    from projections.search.columnar import _NUMBER

    if re.fullmatch(CANONICAL_NUMBER, number):
        assert re.match(_NUMBER, number)
