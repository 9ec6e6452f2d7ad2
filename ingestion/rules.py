"""Provisioning step (`cqrs.provision.EXTRA_STEPS`): the EventBridge rules of `services.rules.RULES`,
each with its SQS queue as target, and every rule-target queue given the "failures" queue as its
dead-letter queue (RedrivePolicy, maxReceiveCount from the queue's mapping in ingestion.functions).
moto's EventBridge delivers matching events to SQS targets itself, as AWS does."""
from __future__ import annotations

import json
import sys
from typing import Any

from cqrs.resources import QUEUES
from cqrs.settings import Settings
from ingestion.functions import FUNCTIONS

DLQ = "failures"


def _max_receive(queue: str) -> int:
    for fn in FUNCTIONS:
        for m in fn.mappings:
            if m.kind == "sqs" and m.source == queue:
                return m.max_receive_count
    return 3


def provision(settings: Settings, rules: Any = None) -> None:
    sqs, events = settings.boto3_client("sqs"), settings.boto3_client("events")

    def arn(queue: str) -> tuple[str, str]:
        url = sqs.get_queue_url(QueueName=f"{settings.table_prefix}{queue}")["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    _, dlq_arn = arn(DLQ)
    for q in QUEUES:
        if q == DLQ:
            continue
        url, _ = arn(q)
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(_max_receive(q))})})
    if rules is None:
        try:
            from services.rules import RULES as rules
        except Exception as e:  # noqa: BLE001 - the rest of the stack still comes up; say so clearly
            print(f"provision: EventBridge rules NOT created: services.rules does not import "
                  f"({type(e).__name__}: {e}); re-run `cqrs up` once it does", file=sys.stderr)
            return
    for rule in rules:
        pattern = rule.event_pattern if isinstance(rule.event_pattern, str) else json.dumps(rule.event_pattern)
        events.put_rule(Name=rule.name, EventPattern=pattern, EventBusName=settings.event_bus, State="ENABLED")
        _, qarn = arn(rule.queue)
        events.put_targets(Rule=rule.name, EventBusName=settings.event_bus,
                           Targets=[{"Id": f"{rule.queue}-queue", "Arn": qarn}])
