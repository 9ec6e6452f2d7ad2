"""Fault injection, failures that must not lose anything: a poison record, a type conflict, items near
DynamoDB's 400 KB limit in batches over 6 MB, bulk item 429s/400s, kill -9 of the runner, and
OpenSearch + PostgreSQL outages (absorbed by back-pressure: nothing parked, no redrive). Each ends
with reconcile finding no drift (after `redrive` where the scenario's point is that the operator must
act on a record the read model refused)."""
from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlparse

import pytest

from ingestion.faults import POISON_DATA
from reliability import synth
from reliability.proxy import Proxy
from reliability.reconcile import reconcile
from reliability.replay import redrive
from reliability.sandbox import Sandbox, order, product, transaction
from reliability.sinks import make_sink

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box(local_stack, tmp_path_factory):
    sb = Sandbox.create(local_stack, tmp_path_factory.mktemp("failures"))
    yield sb
    sb.stop()


def _payload_keys(payload: str) -> set[str]:
    import json

    out = set()
    for rec in json.loads(payload)["Records"]:
        data = json.loads(base64.b64decode(rec["kinesis"]["data"]))
        out.add(next(iter(data["dynamodb"]["Keys"].values()))["S"])
    return out


def _no_drift(settings) -> dict:
    rep = reconcile(settings)
    assert rep["errors"] == {} and rep["drift"] == [], (rep["errors"], rep["drift"][:5])
    return rep


def test_poison_type_conflict_and_large_items_in_one_faulty_run(box):
    box.set_faults({"search-projector": {"poison_record_at": 3}})
    # 22 orders of ~300 KB each (near the 400 KB item limit): over 6 MB of changes in flight.
    notes = "x" * 300_000
    for i in range(22):
        box.put("Orders", order(f"big-{i:02d}", 1, Notes=notes))
    # A type conflict: Price is text where every read model expects a number.
    box.put("ProductCatalog", product("conflict-1", 1, price="1.00") | {"Price": "twelve"})
    for i in range(5):
        box.put("Transactions", transaction(f"tx-{i}", amount=f"{i}.99"))
    t0 = time.monotonic()
    box.start()
    try:
        box.drain(timeout=90)
        st = box.status()
    finally:
        box.stop()
    blocked = time.monotonic() - t0
    search = next(m for k, m in st["mappings"].items() if k.startswith("search-projector"))
    # Bounded blocking: the poison went to the on-failure destination after its retries, the rest went on.
    assert blocked < 60
    dest = [d for d in box.failures("aws/lambda/")
            if d["requestContext"]["functionArn"].endswith(":search-projector")]
    assert search["sent_to_destination"] == len(dest) >= 1
    # The projector's own report keeps the poisoned record exactly as it was delivered, with its reason.
    reports = box.failures("search/")
    (poison,) = [r for r in reports if "undecodable" in r["reason"]]
    assert poison["record"]["kinesis"]["data"] == POISON_DATA
    # The on-failure destination keeps the full original records: the conflicting product, and the
    # poisoned change with whatever followed it in its retried batch (checkpointed at the failed item).
    keys = set().union(*(_payload_keys(d["payload"]) for d in dest))
    assert "conflict-1" in keys and len(keys) >= 2, keys
    assert any("Price" in r["reason"] and r["change"]["key"]["ProductID"] == "conflict-1"
               for r in reports if r["change"])
    # The type conflict is quarantined in the lake with its reason.
    from projections.lake.athena import run_athena
    from projections.lake.store import LakeStore

    store = LakeStore(box.settings.boto3_client("s3"), None, box.settings.lake_bucket, box.settings.glue_database)
    rows = [r for k in store.list_keys("quarantine/product/") for r in store.read(k).to_pylist()]
    assert any("conflict-1" in r["item_key"] and "Price" in r["reason"] for r in rows), rows
    # Exactly those keys differ from the command side, and only where they failed.
    rep = reconcile(box.settings)
    drifted = {(d["store"], d["key"][0]) for d in rep["drift"]}
    assert ("lake", "conflict-1") in drifted and ("warehouse", "conflict-1") in drifted
    assert {k for s, k in drifted if s == "search"} <= keys and {s for s, _ in drifted} <= {"search", "lake", "warehouse"}
    assert {k for s, k in drifted if s != "search"} == {"conflict-1"}
    # The fix on the command side (a corrected, higher version) flows through the stream...
    box.put("ProductCatalog", product("conflict-1", 2, price="12.00"))
    box.start()
    try:
        box.drain(timeout=60)
    finally:
        box.stop()
    # ...and redrive re-applies the destinations: the poisoned change's original record now lands,
    # the stale, still-invalid v1 of the conflict fails again and is reported, not dropped.
    res = redrive(box.settings)
    assert res.redriven >= 1
    assert any(f["store"] == "lake" for f in res.still_failed)
    _no_drift(box.settings)
    # Large items arrived whole: the lake keeps the extra attribute exactly.
    _, [(n, ln)] = run_athena(box.settings, "SELECT COUNT(*), MIN(LENGTH(notes)) FROM order_changes "
                                            "WHERE order_id LIKE 'big-%'")
    assert n == 22 and ln == 300_000


class _FlakyBulk:
    """DELIBERATE FAULT STUB around the real OpenSearch client: the first bulk answers 429 for some
    items and always 400 for one (neither can be provoked from osmem on demand)."""

    def __init__(self, real, too_many: set[str], bad: set[str]):
        self.real, self.too_many, self.bad, self.calls = real, set(too_many), bad, 0

    def bulk(self, body, refresh=False):
        self.calls += 1
        body = [json.loads(x) for x in body.removesuffix("\n").split("\n")] if isinstance(body, str) else body  # columnar: one str
        pairs = list(zip(body[::2], body[1::2]))
        send, fake = [], {}
        for i, (meta, doc) in enumerate(pairs):
            _id = meta["index"]["_id"]
            if _id in self.bad:
                fake[i] = {"index": {"status": 400, "error": {"type": "mapper_parsing_exception",
                                                               "reason": "injected 400"}}}
            elif _id in self.too_many and self.calls == 1:
                fake[i] = {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception",
                                                               "reason": "injected 429"}}}
            else:
                send.append(i)
        real = self.real.bulk(body=[x for i in send for x in pairs[i]], refresh=refresh)["items"] if send else []
        got = dict(zip(send, real))
        return {"errors": True, "items": [fake.get(i) or got[i] for i in range(len(pairs))]}

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_bulk_item_429s_are_retried_and_a_400_goes_to_failures_then_redrive(box):
    from projections.search import handler as sh
    from projections.search.client import make_client
    from projections.search.writer import BulkWriter

    s = box.settings
    items = [transaction(f"bulk-{i}", amount=f"{i}.10") for i in range(6)]
    for it in items:
        box.put("Transactions", it)
    recs = [synth.upsert("Transactions", it, s.region, s.table("Transactions")) for it in items]
    flaky = _FlakyBulk(make_client(s), {"bulk-1", "bulk-2"}, {"bulk-4"})
    resp = sh.process({"Records": recs}, search=flaky, s3=s.boto3_client("s3"), settings=s,
                      writer=BulkWriter(flaky, base_delay=0.01, refresh=True))
    assert resp["batchItemFailures"] == [{"itemIdentifier": recs[4]["kinesis"]["sequenceNumber"]}]
    assert flaky.calls >= 2  # the 429 items were sent again
    (report,) = [r for r in box.failures("search/") if r["change"] and r["change"]["key"] == {"TransactionId": "bulk-4"}]
    assert report["status"] == 400 and "injected 400" in report["reason"]
    assert report["record"]["kinesis"]["data"] == recs[4]["kinesis"]["data"]  # full payload kept
    # The other read models get the same records (as their own mappings would deliver them).
    for store in ("lake", "warehouse"):
        assert make_sink(s, store)({"Records": recs}) == []
    rep = reconcile(s, stores=("search",))
    assert [(d["key"], d["kind"]) for d in rep["drift"]] == [(["bulk-4"], "missing")]
    res = redrive(s, include_quarantine=False)  # the "fix": the stub is gone
    assert res.redriven >= 1
    _no_drift(s)


def test_kill_9_of_the_runner_mid_batch_then_restart(box):
    for v in range(1, 4):
        for i in range(40):
            box.put("Orders", order(f"k9-{i:02d}", v, status="CONFIRMED" if v == 3 else "PENDING"))
    box.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill as soon as something, not everything, was delivered
        ms = box.status().get("mappings", {})
        done = [m.get("delivered", 0) for m in ms.values()]
        if any(done) and min(done) < 120:
            break
        time.sleep(0.05)
    box.kill9()
    assert box.proc.returncode == -9
    box.start()
    try:
        box.drain(timeout=60)
    finally:
        box.stop()
    _no_drift(box.settings)


def test_opensearch_and_postgres_down_for_a_while_then_back_nothing_parked(box):
    """Back-pressure: each projector invocation may wait only 1 s here (CQRS_STORE_WAIT_S), so an
    outage of several seconds spans many invocations and mapping retries; the shard waits at its
    checkpoint, nothing goes to an on-failure destination, and the backlog drains by itself."""
    s = box.settings
    os_url = urlparse(s.opensearch_url)
    pg = urlparse(s.warehouse_dsn)
    os_proxy, pg_proxy = Proxy(os_url.hostname, os_url.port), Proxy(pg.hostname, pg.port)
    via = s.with_(opensearch_url=f"http://127.0.0.1:{os_proxy.port}", store_wait_s=1.0,
                  warehouse_dsn=s.warehouse_dsn.replace(f"{pg.hostname}:{pg.port}", f"127.0.0.1:{pg_proxy.port}"))
    box.set_faults({})  # no deliberate record faults: any failure here is the outage's
    before = {o["key"] for o in box.failures()}
    box.start(settings=via)
    try:
        os_proxy.down()
        pg_proxy.down()
        for v in range(1, 3):
            for i in range(15):
                box.put("Transactions", transaction(f"out-{i}", v, amount=f"{v}.{i:02d}"))
        # Both read models unreachable while changes keep arriving, for longer than the mapping's
        # own retries lasted before (they used to run out within ~5 s and park the records).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st = box.status().get("mappings", {})
            if all(m.get("retries", 0) >= 3 for k, m in st.items() if not k.startswith("lake-projector")):
                break
            time.sleep(0.2)
        time.sleep(4.0)
        os_proxy.up()
        pg_proxy.up()
        box.drain(timeout=90)
        st = box.status()
    finally:
        box.stop()
        os_proxy.down()
        pg_proxy.down()
    felt = {k.split("#")[0]: m.get("retries", 0) for k, m in st["mappings"].items()}
    assert felt["search-projector"] > 0 and felt["warehouse-projector"] > 0, felt  # the shards waited
    # Nothing parked, nothing reported: no invocation record, no projector failure report.
    parked = {k: (m.get("sent_to_destination", 0), m.get("last_error")) for k, m in st["mappings"].items()}
    assert sum(n for n, _ in parked.values()) == 0, parked
    assert {o["key"] for o in box.failures()} - before == set()
    # ...and the read models equal the command side without any redrive.
    _no_drift(s)
