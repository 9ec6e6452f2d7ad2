"""The forwarder (DynamoDB Streams -> Kinesis `changes`) under cancelled transactions on the real moto
server: it forwards exactly the committed changes, and when it says it is caught up its checkpoint is
the stream's last record. Before cqrs/moto_server.py serialized stream reads with the rollback, it
forwarded records of writes that never persisted and then skipped as many committed ones while
reporting itself caught up."""
from __future__ import annotations

import threading
import time

import orjson
import pytest
from botocore.exceptions import ClientError

from ingestion.esm.checkpoints import CheckpointStore
from ingestion.forwarder import Forwarder
from tests.integration.runner_handlers import private

pytestmark = pytest.mark.integration


def _kinesis_keys(s) -> list[tuple[str, str]]:
    kin = s.boto3_client("kinesis")
    shard = kin.list_shards(StreamName=s.changes_stream)["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName=s.changes_stream, ShardId=shard,
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    while True:
        r = kin.get_records(ShardIterator=it, Limit=10000)
        out += [orjson.loads(x["Data"])["dynamodb"]["Keys"] for x in r["Records"]]
        it = r["NextShardIterator"]
        if not r["Records"]:
            return [(k["ProductID"]["S"], k["TranID"]["S"]) for k in out]


def test_forwarder_polling_through_cancelled_transactions_forwards_exactly_the_committed_changes(
        local_stack, tmp_path):
    s = private(local_stack, tmp_path, tables=True)
    ddb, table = s.boto3_client("dynamodb"), s.table("ProductCatalog")
    fwd = Forwarder(s, kinesis=s.boto3_client("kinesis"), streams=s.boto3_client("dynamodbstreams"),
                    ddb=s.boto3_client("dynamodb"), checkpoints=CheckpointStore(tmp_path, "forwarder"))
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            fwd.poll()

    t = threading.Thread(target=loop)
    t.start()
    committed = []
    try:
        for i in range(20):
            # Restock-shaped and wide: 99 movements, then the product's condition fails (no such product).
            items: list[dict] = [{"Put": {"TableName": table, "Item": {"ProductID": {"S": f"P-{i}"},
                                                                       "TranID": {"S": f"m{j}"}},
                                          "ConditionExpression": "attribute_not_exists(TranID)"}}
                                 for j in range(99)]
            items.append({"ConditionCheck": {"TableName": table, "Key": {"ProductID": {"S": f"P-{i}"},
                                                                         "TranID": {"S": "0"}},
                                             "ConditionExpression": "attribute_exists(TranID)"}})
            with pytest.raises(ClientError, match="TransactionCanceled"):
                ddb.transact_write_items(TransactItems=items)
            ddb.put_item(TableName=table, Item={"ProductID": {"S": f"P-{i}"}, "TranID": {"S": "0"}})
            committed.append((f"P-{i}", "0"))
        wrote_at = time.time()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (fwd.caught_up_as_of() or 0) <= wrote_at:
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(timeout=30)
    assert (fwd.caught_up_as_of() or 0) > wrote_at, fwd.status(time.time())
    assert _kinesis_keys(s) == committed  # nothing of a cancelled transaction, nothing skipped
    # "Caught up" is verifiable: the checkpoint is the last record GetRecords returns from TRIM_HORIZON.
    streams = s.boto3_client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    r = streams.get_records(ShardIterator=it, Limit=1000)
    assert len(r["Records"]) == len(committed)
    assert fwd.checkpoints.get(f"{table}/{shard}") == r["Records"][-1]["dynamodb"]["SequenceNumber"]
