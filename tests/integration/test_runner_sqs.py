"""The SQS mapping on moto's SQS: partial batch responses delete only the successes, and a message that
keeps failing reaches the queue's dead-letter queue through SQS's own RedrivePolicy."""
from __future__ import annotations

import json
import time
import uuid

import pytest

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


@pytest.mark.parametrize("maximum_concurrency, expected", [(None, 5), (2, 2)])
def test_batches_run_concurrently_as_lambda_starts_them_and_the_backlog_is_counted_while_busy(
        local_stack, tmp_path, maximum_concurrency, expected):
    # One batch at a time fell behind the Second Look's queue at the talk's rate while the status said
    # its backlog was 0 (the depth was read only when a receive came back empty).
    s = local_stack.with_(state_dir=tmp_path)
    sqs = s.boto3_client("sqs")
    name = f"q-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(0, 120, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(10)])
    h.DELIVERED["sqs_held"].clear()
    h.SQS_GATE.clear()
    h.SQS_RUNNING.update(now=0, most=0)
    fn = Function("sqs-held", f"{h.H}:sqs_held",
                  (Mapping("sqs", name, batch_size=10, maximum_concurrency=maximum_concurrency),), timeout_s=30)
    r = Runner(s, [fn], forward=False)
    m = r.mappings[0][1]
    try:
        deadline = time.monotonic() + 15
        while h.SQS_RUNNING["now"] < expected and time.monotonic() < deadline:
            r.poll_once()  # not run_until: it shuts the runner down when its condition holds
            time.sleep(0.02)
        time.sleep(1.1)
        r.poll_once()  # busy: no more batches than the concurrency, and the depth is read anyway
        assert h.SQS_RUNNING["now"] == expected and m.in_flight() == expected
        assert m.status(time.time())["lag_records"] == 120  # in flight (not visible) + still queued
    finally:
        h.SQS_GATE.set()
    run_until(r, lambda: len(h.DELIVERED["sqs_held"]) == 120 and not m.futures, timeout=30)
    assert sorted(d["body"] for d in h.DELIVERED["sqs_held"]) == sorted(f"m{i}" for i in range(120))
    assert h.SQS_RUNNING["most"] == expected
