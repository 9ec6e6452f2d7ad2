"""The search projector against osmem-server (real bulk, external versions, strict mappings,
aliases, reindex) and moto's S3 for the on-failure destination."""
from __future__ import annotations

import base64
import json
import random
import uuid
from typing import Any

import pytest

from cqrs.settings import Settings
from projections.search.admin import current_index, provision, reindex
from projections.search.client import make_client
from projections.search.documents import IndexAction
from projections.search.handler import process
from projections.search.writer import BulkWriter
from tests.factories import D, kinesis_event, kinesis_record

pytestmark = pytest.mark.integration


@pytest.fixture
def s(local_stack: Settings) -> Settings:
    """Each test gets its own index namespace (the table prefix names indices and aliases)."""
    st = local_stack.with_(table_prefix=f"t{uuid.uuid4().hex[:8]}_")
    provision(st)
    return st


@pytest.fixture
def es(s: Settings) -> Any:
    return make_client(s)


def order(oid: str, v: int, status: str = "PENDING", customer: str = "c-1", **extra: Any) -> dict[str, Any]:
    return {"OrderId": oid, "CustomerId": customer, "CartId": "k-" + oid, "Status": status,
            "Lines": [{"Sku": "SKU-1", "Qty": D(1), "UnitPrice": D("5.00"), "LineAmount": D("5.00")}],
            "TotalAmount": D("5.00"), "Currency": "USD", "CreatedAt": "2026-11-27T06:22:00.000000Z",
            "UpdatedAt": f"2026-11-27T06:22:{v:02d}.000000Z", "Version": D(v), **extra}


def run(s: Settings, es: Any, records: list[dict[str, Any]], writer: BulkWriter | None = None) -> dict[str, Any]:
    out = process(kinesis_event(records), search=es, s3=s.boto3_client("s3"), settings=s, writer=writer)
    es.indices.refresh(index=f"{s.table_prefix.lower()}*")
    return out


def doc(es: Any, s: Settings, resource: str, doc_id: str) -> dict[str, Any]:
    return dict(es.get(index=f"{s.table_prefix.lower()}{resource}", id=doc_id))


def failure_reports(s: Settings, seqs: list[str]) -> dict[str, dict[str, Any]]:
    s3 = s.boto3_client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s.failures_bucket, Prefix="search/").get("Contents", [])]
    out = {}
    for k in keys:
        seq = k.rsplit("/", 1)[1].removesuffix(".json")
        if seq in seqs:
            out[seq] = json.loads(s3.get_object(Bucket=s.failures_bucket, Key=k)["Body"].read())
    return out


def test_duplicates_and_reordering_leave_the_highest_version(s: Settings, es: Any) -> None:
    statuses = ["PENDING", "PENDING", "CONFIRMED", "CONFIRMED", "CANCELLED"]
    recs = [kinesis_record("Orders", "INSERT" if v == 1 else "MODIFY", order("o-1", v, statuses[v - 1]))
            for v in range(1, 6)]
    rng = random.Random(5)
    shuffled = recs + recs[:3]  # duplicates too
    rng.shuffle(shuffled)
    # Two batches: the highest version arrives in the first, lower ones (and duplicates) later.
    first = [r for r in shuffled if r is recs[4]] + shuffled[:2]
    assert run(s, es, first) == {"batchItemFailures": []}
    assert run(s, es, shuffled) == {"batchItemFailures": []}
    got = doc(es, s, "orders", "o-1")
    assert got["_version"] == 5 and got["_source"]["status"] == "CANCELLED" and got["_source"]["version"] == 5


def test_delete_then_stale_update_stays_deleted(s: Settings, es: Any) -> None:
    v1, v2 = order("o-2", 1), order("o-2", 2, "CONFIRMED")
    run(s, es, [kinesis_record("Orders", "INSERT", v1), kinesis_record("Orders", "MODIFY", v2, v1),
                kinesis_record("Orders", "REMOVE", old=v2)])
    tomb = doc(es, s, "orders", "o-2")
    assert tomb["_version"] == 3 and tomb["_source"]["deleted"] is True and tomb["_source"]["ttl_expired"] is False
    # A stale replay, arbitrarily later: the tombstone is a document with a version, not a hard delete
    # that OpenSearch forgets after index.gc_deletes, so the replay is a 409 (= success) and changes nothing.
    assert run(s, es, [kinesis_record("Orders", "MODIFY", v2, v1), kinesis_record("Orders", "INSERT", v1)]) == {
        "batchItemFailures": []}
    again = doc(es, s, "orders", "o-2")
    assert again["_version"] == 3 and again["_source"]["deleted"] is True
    # A TTL expiry is told apart from a user delete.
    cart = {"CartId": "k-ttl", "CustomerId": "c-1", "Status": "OPEN", "CartItems": {}, "Version": D(7)}
    run(s, es, [kinesis_record("Cart", "REMOVE", old=cart, ttl=True)])
    assert doc(es, s, "carts", "k-ttl")["_source"]["ttl_expired"] is True


class FlakyBulk:
    """Fault injection (a real osmem-server cannot be made to answer 429/503 on demand): wraps the
    real client's `bulk`, and on the first call withholds the chosen ids from the real request and
    answers 429/503 for them in place; later calls pass through untouched."""

    def __init__(self, client: Any, fail: dict[str, int]):
        self.client, self.fail, self.calls = client, dict(fail), []
        self._real = client.bulk

    def bulk(self, body: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        body = [json.loads(x) for x in body.removesuffix("\n").split("\n")] if isinstance(body, str) else body  # columnar: one str
        pairs = list(zip(body[::2], body[1::2]))
        self.calls.append([m["index"]["_id"] for m, _ in pairs])
        if len(self.calls) > 1:
            return dict(self._real(body=body, **kw))
        keep = [(m, d) for m, d in pairs if m["index"]["_id"] not in self.fail]
        real = self._real(body=[x for p in keep for x in p], **kw)["items"] if keep else []
        it = iter(real)
        items = []
        for m, _ in pairs:
            code = self.fail.get(m["index"]["_id"])
            items.append({"index": {"_id": m["index"]["_id"], "status": code,
                                    "error": {"type": "es_rejected_execution_exception", "reason": "busy"}}}
                         if code else next(it))
        return {"errors": True, "items": items}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_item_429s_are_retried_and_400s_go_to_s3_with_exact_failures(s: Settings, es: Any) -> None:
    good = [kinesis_record("Orders", "INSERT", order(f"o-{i}", 1)) for i in range(6)]
    # A real 400 from osmem-server: the date field rejects an unparsable value.
    bad_date = kinesis_record("Orders", "INSERT", order("o-bad", 1, CreatedAt="yesterday-ish"))
    # Terminal before OpenSearch: a wrong attribute type, and an undecodable record.
    bad_type = kinesis_record("ProductCatalog", "INSERT", {"ProductID": "p-x", "TranID": "0", "Qty": "lots",
                                                           "Version": D(1)})
    garbage = kinesis_record("Orders", "INSERT", order("o-g", 1))
    garbage["kinesis"]["data"] = base64.b64encode(b"{not json").decode()
    flaky = FlakyBulk(es, {"o-1": 429, "o-4": 503})
    delays: list[float] = []
    writer = BulkWriter(flaky, sleep=delays.append)
    out = run(s, es, good + [bad_date, bad_type, garbage], writer=writer)
    failed = [f["itemIdentifier"] for f in out["batchItemFailures"]]
    seq = lambda r: r["kinesis"]["sequenceNumber"]
    assert sorted(failed) == sorted([seq(bad_date), seq(bad_type), seq(garbage)])
    assert flaky.calls[1] == ["o-1", "o-4"] and len(flaky.calls) == 2 and len(delays) == 1  # only those retried
    assert 0 <= delays[0] <= 0.1  # full jitter: a random pause up to the first backoff step
    for i in range(6):
        assert doc(es, s, "orders", f"o-{i}")["_version"] == 1  # nothing lost
    reports = failure_reports(s, failed)
    assert set(reports) == set(failed)
    assert "mapper_parsing_exception" in reports[seq(bad_date)]["reason"] and reports[seq(bad_date)]["status"] == 400
    assert reports[seq(bad_date)]["record"] == bad_date  # the full payload
    assert reports[seq(bad_date)]["document"]["created_at"] == "yesterday-ish"
    assert "Qty" in reports[seq(bad_type)]["reason"]
    assert "undecodable" in reports[seq(garbage)]["reason"] and reports[seq(garbage)]["record"] == garbage


def test_transient_failures_that_never_heal_are_reported_not_sent_to_s3(s: Settings, es: Any) -> None:
    class Always429(FlakyBulk):
        def bulk(self, body: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
            self.calls.append(1)
            body = [json.loads(x) for x in body.removesuffix("\n").split("\n")] if isinstance(body, str) else body  # columnar: one str
            return {"errors": True, "items": [{"index": {"_id": m["index"]["_id"], "status": 429,
                                                         "error": {"type": "rejected", "reason": "busy"}}}
                                              for m in body[::2]]}
    rec = kinesis_record("Orders", "INSERT", order("o-t", 1))
    flaky = Always429(es, {})
    out = run(s, es, [rec], writer=BulkWriter(flaky, max_attempts=3, sleep=lambda _: None))
    assert out == {"batchItemFailures": [{"itemIdentifier": rec["kinesis"]["sequenceNumber"]}]}
    assert len(flaky.calls) == 3 and failure_reports(s, [rec["kinesis"]["sequenceNumber"]]) == {}


def test_strict_mapping_rejects_unknown_fields(s: Settings, es: Any) -> None:
    alias = f"{s.table_prefix.lower()}orders"
    before = es.indices.get_mapping(index=alias)
    out = BulkWriter(es).write([IndexAction(alias, "o-u", 1, {"id": "o-u", "version": 1, "surprise": "x"})])
    assert [(f.status, f.retryable) for f in out.failed] == [(400, False)]
    assert "strict" in out.failed[0].reason
    assert es.indices.get_mapping(index=alias) == before  # the mapping did not grow


def test_reindex_swaps_the_alias_and_keeps_versions(s: Settings, es: Any) -> None:
    run(s, es, [kinesis_record("Orders", "INSERT", order("o-r", 1)),
                kinesis_record("Orders", "MODIFY", order("o-r", 4, "CONFIRMED"))])
    alias = f"{s.table_prefix.lower()}orders"
    res = reindex(s, "orders")
    assert res["from"] == f"{alias}-v1" and res["to"] == f"{alias}-v2" and res["copied"] == 1
    assert current_index(es, alias) == f"{alias}-v2"
    got = doc(es, s, "orders", "o-r")
    assert got["_index"] == f"{alias}-v2" and got["_version"] == 4
    mapping = es.indices.get_mapping(index=f"{alias}-v2")[f"{alias}-v2"]["mappings"]
    assert mapping["dynamic"] == "strict"
    # Writes go through the alias to the new index, versions still guarded.
    assert run(s, es, [kinesis_record("Orders", "MODIFY", order("o-r", 2))]) == {"batchItemFailures": []}
    assert doc(es, s, "orders", "o-r")["_source"]["status"] == "CONFIRMED"
    provision(s)  # idempotent: the alias stays where it is
    assert current_index(es, alias) == f"{alias}-v2"


def test_the_lambda_entry_point_is_safe_from_concurrent_threads(s: Settings, es: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`handle` as Lambda (and the local runner, parallelization factor 2) calls it: settings from the
    environment, clients created once on first use even when two batches arrive together."""
    import threading

    from projections.search import handler

    monkeypatch.setenv("CQRS_TABLE_PREFIX", s.table_prefix)  # this test's own indices
    handler._clients.clear()
    results: list[Any] = []
    batches = [[kinesis_record("Orders", "INSERT", order(f"h-{t}-{i}", 1)) for i in range(3)] for t in range(2)]
    threads = [threading.Thread(target=lambda b=b: results.append(handler.handle(kinesis_event(b), None)))
               for b in batches]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [{"batchItemFailures": []}] * 2 and len(handler._clients) == 1
    alias = f"{s.table_prefix.lower()}orders"
    es.indices.refresh(index=alias)
    assert es.count(index=alias, body={"query": {"prefix": {"id": "h-"}}})["count"] == 6
