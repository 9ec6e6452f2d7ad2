"""A cancelled TransactWriteItems must leave no trace in the table's DynamoDB stream, also for a reader
polling while it runs (cqrs/moto_server.py). Before the fix an unlocked GetRecords could read the records
a transaction appended before its rollback trimmed them (read models ahead of the table), and its next
iterator then skipped as many real changes (a stream reader "caught up" with records unread)."""
from __future__ import annotations

import threading
import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def _table(s) -> tuple[str, str, str]:
    """A private table shaped like ProductCatalog (ProductID + TranID), so only this test writes to it."""
    ddb = s.boto3_client("dynamodb")
    name = f"rollback-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "ProductID", "KeyType": "HASH"},
                                {"AttributeName": "TranID", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "ProductID", "AttributeType": "S"},
                                           {"AttributeName": "TranID", "AttributeType": "S"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = s.boto3_client("dynamodbstreams").describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    return name, arn, shard["ShardId"]


def _key(r) -> tuple[str, str]:
    k = r["dynamodb"]["Keys"]
    return k["ProductID"]["S"], k["TranID"]["S"]


def _read_all(streams, it: str) -> list:
    out = []
    while True:
        r = streams.get_records(ShardIterator=it)
        out += r["Records"]
        it = r["NextShardIterator"]
        if not r["Records"]:
            return out


def _cancelled(ddb, items) -> list[str]:
    with pytest.raises(ClientError) as e:
        ddb.transact_write_items(TransactItems=items)
    assert e.value.response["Error"]["Code"] == "TransactionCanceledException"
    return [x["Code"] for x in e.value.response["CancellationReasons"]]


def test_cancelled_restock_and_duplicate_movement_leave_no_stream_record(local_stack):
    s = local_stack
    ddb, streams = s.boto3_client("dynamodb"), s.boto3_client("dynamodbstreams")
    table, arn, shard = _table(s)
    p = "P-1"
    ddb.put_item(TableName=table, Item={"ProductID": {"S": p}, "TranID": {"S": "0"}, "Stock": {"N": "3"},
                                        "Version": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"ProductID": {"S": p}, "TranID": {"S": "m-dup"}, "Qty": {"N": "1"}})
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    before = _read_all(streams, streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"])
    assert len(before) == 2

    def bump(cond: str, values: dict) -> dict:
        return {"Update": {"TableName": table, "Key": {"ProductID": {"S": p}, "TranID": {"S": "0"}},
                           "UpdateExpression": "SET Stock = Stock + :d, Version = Version + :one",
                           "ConditionExpression": cond,
                           "ExpressionAttributeValues": {":one": {"N": "1"}, **values}}}

    def movement(tid: str) -> dict:
        return {"Put": {"TableName": table, "Item": {"ProductID": {"S": p}, "TranID": {"S": tid}},
                        "ConditionExpression": "attribute_not_exists(TranID)"}}

    # SUB more than stock: the movement is written first, then the stock condition fails.
    assert _cancelled(ddb, [movement("m-sub"), bump("Stock >= :n", {":d": {"N": "-9"}, ":n": {"N": "9"}})]) \
        == ["None", "ConditionalCheckFailed"]
    # Duplicate movement id: the stock update is written first, then the movement's condition fails.
    assert _cancelled(ddb, [bump("Stock >= :n", {":d": {"N": "5"}, ":n": {"N": "0"}}), movement("m-dup")]) \
        == ["None", "ConditionalCheckFailed"]
    after = _read_all(streams, it)
    assert [(_key(r), r["dynamodb"]["SequenceNumber"]) for r in after] == \
        [(_key(r), r["dynamodb"]["SequenceNumber"]) for r in before]
    head = ddb.get_item(TableName=table, Key={"ProductID": {"S": p}, "TranID": {"S": "0"}})["Item"]
    assert (head["Stock"]["N"], head["Version"]["N"]) == ("3", "1")
    assert "Item" not in ddb.get_item(TableName=table, Key={"ProductID": {"S": p}, "TranID": {"S": "m-sub"}})

    # A committed change after the cancellations is the next record, with the next sequence number.
    ddb.transact_write_items(TransactItems=[movement("m-add"), bump("Stock >= :n", {":d": {"N": "1"},
                                                                                    ":n": {"N": "0"}})])
    new = _read_all(streams, it)[len(before):]
    assert [(_key(r), r["eventName"]) for r in new] == [((p, "m-add"), "INSERT"), ((p, "0"), "MODIFY")]
    assert int(new[0]["dynamodb"]["SequenceNumber"]) == int(before[-1]["dynamodb"]["SequenceNumber"]) + 1
    img = new[1]["dynamodb"]["NewImage"]
    assert (img["Stock"]["N"], img["Version"]["N"]) == ("4", "2")


def test_reader_polling_during_cancelled_transactions_sees_exactly_the_committed_changes(local_stack):
    s = local_stack
    ddb = s.boto3_client("dynamodb")
    table, arn, shard = _table(s)
    stop, seen = threading.Event(), [[], []]

    def reader(out: list) -> None:
        c = s.boto3_client("dynamodbstreams")
        it = c.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while not stop.is_set():
            r = c.get_records(ShardIterator=it)
            it = r["NextShardIterator"]
            out += [(_key(x), x["dynamodb"]["SequenceNumber"]) for x in r["Records"]]
        out += [(_key(x), x["dynamodb"]["SequenceNumber"]) for x in _read_all(c, it)]

    threads = [threading.Thread(target=reader, args=(out,)) for out in seen]
    for t in threads:
        t.start()
    committed = []
    try:
        for i in range(25):
            # A wide transaction (99 writes, then a failing check) keeps the rollback window open long enough
            # for a concurrent GetRecords to land in it, as it did under load before the fix.
            items: list[dict] = [{"Put": {"TableName": table, "Item": {"ProductID": {"S": f"bad-{i}"},
                                                                       "TranID": {"S": str(j)}}}}
                                 for j in range(99)]
            items.append({"ConditionCheck": {"TableName": table, "Key": {"ProductID": {"S": "none"},
                                                                         "TranID": {"S": "0"}},
                                             "ConditionExpression": "attribute_exists(TranID)"}})
            _cancelled(ddb, items)
            ddb.put_item(TableName=table, Item={"ProductID": {"S": f"good-{i}"}, "TranID": {"S": "0"}})
            committed.append((f"good-{i}", "0"))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    streams = s.boto3_client("dynamodbstreams")
    truth = [(_key(x), x["dynamodb"]["SequenceNumber"]) for x in _read_all(streams, streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"])]
    assert [k for k, _ in truth] == committed
    for out in seen:
        phantom = [k for k, _ in out if k[0].startswith("bad-")]
        assert not phantom, f"a reader saw {len(phantom)} record(s) of cancelled transactions"
        assert out == truth  # every committed change, once, in order, with its final sequence number
