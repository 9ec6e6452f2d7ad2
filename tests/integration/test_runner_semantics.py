"""Event source mapping semantics on the real local services (moto's Kinesis, DynamoDB Streams, S3),
each shown with a tiny handler from runner_handlers.py."""
from __future__ import annotations

import json

import pytest

from ingestion.drain import drain
from ingestion.runner import Runner
from tests.integration import runner_handlers as h
from tests.integration.runner_handlers import private, run_until

pytestmark = pytest.mark.integration


def _put(s, items):
    kin = s.boto3_client("kinesis")
    last: dict[str, str] = {}
    for i in range(0, len(items), 100):
        resp = kin.put_records(StreamName=s.changes_stream, Records=[
            {"Data": json.dumps(p).encode(), "PartitionKey": p["key"]} for p in items[i:i + 100]])
        last.update((r["ShardId"], r["SequenceNumber"]) for r in resp["Records"])
    return last


def test_poison_record_with_bisect_and_finite_retries_unblocks_the_shard(local_stack, tmp_path):
    s = private(local_stack, tmp_path)
    items = [{"key": f"k{i % 3}", "n": i} for i in range(30)]
    items[13]["poison"] = True
    last = _put(s, items)
    h.DELIVERED["poison"].clear()
    r = Runner(s, [h.POISON], forward=False, retry_base_s=0.01, retry_cap_s=0.05)
    m = r.mappings[0][1]
    run_until(r, lambda: m.stats["sent_to_destination"] == 1 and m.stats["delivered"] == 29 and not m.in_flight())
    got = {d["n"] for d in h.DELIVERED["poison"]}
    assert got == set(range(30)) - {13}  # everything after the poison got through too
    # The poison landed in the S3 on-failure destination with its payload, as AWS writes it.
    s3 = s.boto3_client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s.failures_bucket, Prefix=f"aws/lambda/{m.uuid}/")["Contents"]]
    assert len(keys) == 1
    rec = json.loads(s3.get_object(Bucket=s.failures_bucket, Key=keys[0])["Body"].read())
    assert rec["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert rec["KinesisBatchInfo"]["batchSize"] == 1 and rec["responseContext"]["functionError"] == "Unhandled"
    import base64

    payload = json.loads(rec["payload"])["Records"]
    assert json.loads(base64.b64decode(payload[0]["kinesis"]["data"])) == items[13]
    # The checkpoint moved past the poison: a restarted consumer has nothing left to do.
    assert m.checkpoints.positions() == last


def test_order_per_key_holds_with_parallelization(local_stack, tmp_path):
    s = private(local_stack, tmp_path, shards=2)
    keys = [f"key-{i}" for i in range(12)]
    items = [{"key": keys[i % 12], "n": i} for i in range(240)]
    _put(s, items)
    h.DELIVERED["ordered"].clear()
    r = Runner(s, [h.ORDERED], forward=False)
    m = r.mappings[0][1]
    run_until(r, lambda: m.stats["delivered"] == 240 and not m.in_flight())
    seen = h.DELIVERED["ordered"]
    assert sorted(d["n"] for d in seen) == list(range(240))  # each once, nothing lost
    for k in keys:
        ns = [d["n"] for d in seen if d["key"] == k]
        assert ns == sorted(ns), f"order broken for {k}: {ns}"
    assert m.stats["invocations"] > 240 // 7  # batches really were cut at BatchSize
    status = r.status(0)["mappings"][m.id]
    assert status["lag_records"] == 0 and status["in_flight"] == 0


def test_partial_batch_response_retries_from_the_failed_item_only(local_stack, tmp_path):
    s = private(local_stack, tmp_path)
    _put(s, [{"key": "k", "n": i} for i in range(10)])
    h.DELIVERED["partial"].clear()
    h.INVOCATIONS["partial_failed"] = 0
    r = Runner(s, [h.PARTIAL], forward=False, retry_base_s=0.01)
    m = r.mappings[0][1]
    run_until(r, lambda: m.stats["delivered"] == 10 and not m.in_flight())
    ns = [d["n"] for d in h.DELIVERED["partial"]]
    assert ns == list(range(10)) + list(range(5, 10))  # 0..4 were not delivered again


def test_dynamodb_stream_mapping_and_drain(local_stack, tmp_path):
    s = private(local_stack, tmp_path, tables=True)
    h._PREFIX[0] = s.table_prefix
    h.DELIVERED["changes"].clear()
    ddb = s.boto3_client("dynamodb")
    for i in range(7):
        ddb.put_item(TableName=s.table("Orders"), Item={"OrderId": {"S": f"o{i}"}, "Version": {"N": "1"},
                                                         "TotalAmount": {"N": "0.01"}})
    ddb.delete_item(TableName=s.table("Orders"), Key={"OrderId": {"S": "o0"}})
    r = Runner(s, [h.CHANGES, h.MISSING], forward=True)
    m = r.mappings[0][1]
    import threading
    import time

    t = threading.Thread(target=r.run, daemon=True)
    t.start()
    try:
        res = drain(tmp_path, timeout=30)
    finally:
        r.stop.set()
        t.join(10)
    # The function that does not import is reported at once, by name and reason; the rest caught up.
    assert not res.ok and list(res.stuck) == ["missing#0:kinesis:changes_stream"]
    assert "does not import: ModuleNotFoundError" in res.stuck["missing#0:kinesis:changes_stream"]
    assert res.status["functions"]["missing"]["loaded"] is False
    assert m.stats["delivered"] == 8
    got = h.DELIVERED["changes"]
    assert {d["table"] for d in got} == {"Orders"}
    assert got[-1] == {"key": "Orders#OrderId=o0", "version": 2, "op": "REMOVE", "table": "Orders"}
    assert res.status["forwarder"]["forwarded"] == 8  # the forwarder copied them to Kinesis too
    assert time.time() - res.status["heartbeat"] < 5
