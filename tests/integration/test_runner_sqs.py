"""The SQS mapping on moto's SQS: partial batch responses delete only the successes, and a message that
keeps failing reaches the queue's dead-letter queue through SQS's own RedrivePolicy."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from ingestion.esm.sqs import LOCAL_MAX_BATCHES, SCALE_UP_EVERY_S
from ingestion.functions import Function, Mapping
from ingestion.runner import Runner
from tests.integration import runner_handlers as h
from tests.integration.runner_handlers import run_until

pytestmark = pytest.mark.integration


def test_partial_failures_are_redelivered_then_dead_lettered(local_stack, tmp_path):
    s = local_stack.with_(state_dir=tmp_path)
    sqs = s.boto3_client("sqs")
    name = f"q-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
    for body in ["m0", "m1", "poison", "m3", "m4"]:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    h.DELIVERED["sqs"].clear()
    fn = Function("sqs-test", f"{h.H}:sqs_bodies", (Mapping("sqs", name, batch_size=10),), timeout_s=30)
    r = Runner(s, [fn], forward=False)
    m = r.mappings[0][1]

    def dead_lettered() -> bool:
        return bool(sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages"))

    run_until(r, lambda: len(h.DELIVERED["sqs"]) == 4 and not m.futures and dead_lettered(), timeout=30)
    assert sorted(d["body"] for d in h.DELIVERED["sqs"]) == ["m0", "m1", "m3", "m4"]  # each once
    assert m.stats["returned_to_queue"] == 2  # the poison, twice (maxReceiveCount), then SQS moved it
    (msg,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert msg["Body"] == "poison"


@pytest.mark.parametrize("maximum_concurrency, start, ceiling", [(None, 5, LOCAL_MAX_BATCHES), (2, 2, 2)])
def test_batches_scale_out_as_lambda_does_while_a_backlog_lasts_and_the_backlog_is_counted_while_busy(
        local_stack, tmp_path, maximum_concurrency, start, ceiling):
    # One batch at a time fell behind the Second Look's queue at the talk's rate while the status said
    # its backlog was 0 (the depth was read only when a receive came back empty); five fell behind too
    # whenever moto's answers slowed. Lambda starts five and adds more while messages remain.
    s = local_stack.with_(state_dir=tmp_path)
    sqs = s.boto3_client("sqs")
    name = f"q-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(0, 150, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(10)])
    h.DELIVERED["sqs_held"].clear()
    h.SQS_GATE.clear()
    h.SQS_RUNNING.update(now=0, most=0)
    fn = Function("sqs-held", f"{h.H}:sqs_held",
                  (Mapping("sqs", name, batch_size=10, maximum_concurrency=maximum_concurrency),), timeout_s=30)
    r = Runner(s, [fn], forward=False)
    m = r.mappings[0][1]
    try:
        started = time.monotonic()
        r.poll_once()  # not run_until: it shuts the runner down when its condition holds
        assert m.in_flight() == start  # Lambda's five (or the maximum, if lower) to begin with
        while m.in_flight() < ceiling and time.monotonic() - started < 15:
            r.poll_once()
            time.sleep(0.02)
        took = time.monotonic() - started
        deadline = time.monotonic() + 1.1
        while time.monotonic() < deadline:
            r.poll_once()  # busy at the ceiling: no more batches, and the depth is read anyway
            time.sleep(0.05)
        assert h.SQS_RUNNING["now"] == ceiling and m.in_flight() == ceiling
        assert took >= (ceiling - start - 1) * SCALE_UP_EVERY_S  # one more batch per step at most
        assert m.status(time.time())["lag_records"] == 150  # in flight (not visible) + still queued
    finally:
        h.SQS_GATE.set()
    run_until(r, lambda: len(h.DELIVERED["sqs_held"]) == 150 and not m.futures, timeout=30)
    assert sorted(d["body"] for d in h.DELIVERED["sqs_held"]) == sorted(f"m{i}" for i in range(150))
    assert h.SQS_RUNNING["most"] == ceiling
    assert m.status(time.time())["concurrent_batches_allowed"] == start  # scaled back once empty
