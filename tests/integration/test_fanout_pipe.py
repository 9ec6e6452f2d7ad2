"""Fan-out on the real local services: the forwarder writes Kinesis Data Streams for DynamoDB records
(FailedRecordCount handled by re-sending only the rejected ones), and the event pipe's domain events
reach an SQS queue through an EventBridge rule (moto delivers to SQS targets natively)."""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass

import pytest

from ingestion.change_event import decode_lambda_event
from ingestion.esm.checkpoints import CheckpointStore
from ingestion.forwarder import Forwarder
from ingestion.pipe import handle
from ingestion.rules import provision
from tests.conftest import load_event
from tests.factories import D, kinesis_event, kinesis_record
from tests.integration.runner_handlers import private

pytestmark = pytest.mark.integration


class FlakyKinesis:
    """DELIBERATE FAULT STUB around the real moto client: rejects every 3rd record of a PutRecords
    call the first time it is sent (moto never throttles, so FailedRecordCount > 0 cannot happen)."""

    def __init__(self, real):
        self.real, self.rejected, self.calls = real, set(), []

    def put_records(self, StreamName, Records):
        self.calls.append(len(Records))
        out, keep = [], []
        for i, r in enumerate(Records):
            ident = (r["PartitionKey"], r["Data"])
            if i % 3 == 2 and ident not in self.rejected:
                self.rejected.add(ident)
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                keep.append(r)
                out.append(None)
        resp = self.real.put_records(StreamName=StreamName, Records=keep) if keep else {"Records": []}
        it = iter(resp["Records"])
        out = [o if o is not None else next(it) for o in out]
        return {"FailedRecordCount": sum("ErrorCode" in o for o in out), "Records": out}


def test_forwarder_resends_only_rejected_records_in_the_dynamodb_format(local_stack, tmp_path):
    s = private(local_stack, tmp_path, shards=2, tables=True)
    ddb = s.boto3_client("dynamodb")
    for i in range(20):
        ddb.put_item(TableName=s.table("Transactions"), Item={
            "TransactionId": {"S": f"t{i}"}, "Amount": {"N": "12345678901234567890.123456789012345678"},
            "Version": {"N": "1"}, "Tags": {"SS": ["a", "b"]}})
    ddb.update_item(TableName=s.table("Transactions"), Key={"TransactionId": {"S": "t0"}},
                    UpdateExpression="SET Version = :v", ExpressionAttributeValues={":v": {"N": "2"}})
    flaky = FlakyKinesis(s.boto3_client("kinesis"))
    fwd = Forwarder(s, kinesis=flaky, streams=s.boto3_client("dynamodbstreams"), ddb=ddb,
                    checkpoints=CheckpointStore(tmp_path, "forwarder"), retry_base_s=0.01)
    while fwd.poll():
        pass
    assert fwd.forwarded == 21 and fwd.put_retries == 7 and flaky.calls == [21, 7]
    # Read the stream back: each change exactly once (only rejected ones were re-sent), decodable.
    kin = s.boto3_client("kinesis")
    recs = []
    for sh in kin.list_shards(StreamName=s.changes_stream)["Shards"]:
        it = kin.get_shard_iterator(StreamName=s.changes_stream, ShardId=sh["ShardId"],
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs += kin.get_records(ShardIterator=it)["Records"]
    assert len(recs) == 21
    event = {"Records": [{"kinesis": {"sequenceNumber": r["SequenceNumber"], "partitionKey": r["PartitionKey"],
                                      "data": base64.b64encode(r["Data"]).decode()}} for r in recs]}
    batch = decode_lambda_event(event, prefix=s.table_prefix)
    assert batch.failures == []
    assert sorted((c.key_string, c.version) for c in batch.events) == sorted(
        [(f"Transactions#TransactionId=t{i}", 1) for i in range(20)] + [("Transactions#TransactionId=t0", 2)])
    assert all(c.new_image["Amount"] == D("12345678901234567890.123456789012345678") for c in batch.events)
    assert {r["PartitionKey"] for r in recs} == {f"Transactions#TransactionId=t{i}" for i in range(20)}
    body = json.loads(recs[0]["Data"])
    assert body["recordFormat"] == "application/json" and body["tableName"] == "Transactions"
    assert body["dynamodb"]["ApproximateCreationDateTimePrecision"] == "MILLISECOND"
    # Restart from the checkpoint: nothing is forwarded twice.
    again = Forwarder(s, kinesis=flaky, streams=s.boto3_client("dynamodbstreams"), ddb=ddb,
                      checkpoints=CheckpointStore(tmp_path, "forwarder"))
    assert again.poll() is False and again.forwarded == 0


@dataclass(frozen=True)
class _Rule:
    name: str
    event_pattern: dict
    queue: str


def test_event_pipe_puts_domain_events_that_eventbridge_routes_to_sqs(local_stack):
    s = local_stack
    tx = f"tx-{uuid.uuid4().hex[:8]}"
    queue = f"fanout-{uuid.uuid4().hex[:8]}"
    sqs = s.boto3_client("sqs")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    provision(s, rules=[_Rule(f"rule-{queue}", {"source": ["cqrs.transactions"],
                                                "detail-type": ["TransactionPosted"],
                                                "detail": {"TransactionId": [tx]}}, queue)])
    rec = kinesis_record("Transactions", "INSERT", new={
        "TransactionId": tx, "CustomerId": "c-1", "Amount": D("99999999999999999999999999999999999.99"),
        "PostedAt": "2026-11-27T06:00:00Z", "Version": D(1)})
    resp = handle(kinesis_event([rec]), None, settings=s)
    assert resp == {"batchItemFailures": []}
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(msgs) == 1
    ev = json.loads(msgs[0]["Body"])
    sample = load_event("eventbridge_event.json")
    # The envelope of AWS's documented EventBridge event (moto leaves out "account" on SQS delivery).
    assert set(sample) - {"account"} <= set(ev), sorted(ev)
    assert ev["detail-type"] == "TransactionPosted" and ev["source"] == "cqrs.transactions"
    assert ev["detail"]["TransactionId"] == tx
    assert str(ev["detail"]["Amount"]) == "99999999999999999999999999999999999.99"
    # Every rule-target queue has the failures queue as dead-letter queue.
    attrs = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="second-look")["QueueUrl"],
                                     AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].endswith(":failures")


def test_event_pipe_reports_undecodable_records_against_the_real_bus(local_stack):
    resp = handle(load_event("kinesis_ddb_event_with_undecodable.json"), None, settings=local_stack)
    assert resp == {"batchItemFailures": [
        {"itemIdentifier": "49656783930150203476301298478932746253765917842187427844"}]}
