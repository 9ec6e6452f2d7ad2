"""The SQS mapping on moto's SQS: partial batch responses delete only the successes, and a message that
keeps failing reaches the queue's dead-letter queue through SQS's own RedrivePolicy."""
from __future__ import annotations

import json
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

    run_until(r, lambda: len(h.DELIVERED["sqs"]) == 4 and not m.future and dead_lettered(), timeout=30)
    assert sorted(d["body"] for d in h.DELIVERED["sqs"]) == ["m0", "m1", "m3", "m4"]  # each once
    assert m.stats["returned_to_queue"] == 2  # the poison, twice (maxReceiveCount), then SQS moved it
    (msg,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    assert msg["Body"] == "poison"
