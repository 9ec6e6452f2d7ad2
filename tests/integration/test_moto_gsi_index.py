"""Queries on a global secondary index answer from the hash index cqrs/moto_server.py keeps (patch 8)
instead of walking the whole table: after random puts, key-changing updates, deletes, cancelled and
committed transactions, every query must return exactly what a plain model of the table says."""
from __future__ import annotations

import random
import uuid

import pytest

pytestmark = pytest.mark.integration


def test_gsi_queries_match_a_model_after_every_kind_of_write(local_stack):
    ddb = local_stack.boto3_client("dynamodb")
    name = f"gsi-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("Id", "Cust", "At")],
        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "ByCust", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "Cust", "KeyType": "HASH"},
                                               {"AttributeName": "At", "KeyType": "RANGE"}]}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    model: dict[str, tuple[str, str]] = {}  # Id -> (Cust, At)
    rng = random.Random(1)

    def item(i: str, cust: str, at: str) -> dict:
        return {"Id": {"S": i}, "Cust": {"S": cust}, "At": {"S": at}}

    def check() -> None:
        for cust in ("c0", "c1", "c2"):
            got = [i["Id"]["S"] for i in ddb.query(
                TableName=name, IndexName="ByCust", KeyConditionExpression="Cust = :c AND #a <= :t",
                ExpressionAttributeNames={"#a": "At"},
                ExpressionAttributeValues={":c": {"S": cust}, ":t": {"S": "9"}}, ScanIndexForward=False)["Items"]]
            want = [k for k, _ in sorted(((k, v) for k, v in model.items() if v[0] == cust),
                                         key=lambda kv: (kv[1][1], kv[0]), reverse=True)]
            assert got == want, (cust, got, want)

    check()  # builds the index on an empty table; everything after goes through the write paths
    for _ in range(150):
        op, i, cust, at = rng.random(), f"i{rng.randrange(30)}", f"c{rng.randrange(3)}", f"{rng.randrange(50):03d}"
        if op < 0.35:
            ddb.put_item(TableName=name, Item=item(i, cust, at))
            model[i] = (cust, at)
        elif op < 0.55 and i in model:  # the GSI hash key changes in place
            ddb.update_item(TableName=name, Key={"Id": {"S": i}}, UpdateExpression="SET Cust = :c",
                            ExpressionAttributeValues={":c": {"S": cust}})
            model[i] = (cust, model[i][1])
        elif op < 0.7:
            ddb.delete_item(TableName=name, Key={"Id": {"S": i}})
            model.pop(i, None)
        elif op < 0.85:  # cancelled on its second item: the first one's change is rolled back
            with pytest.raises(ddb.exceptions.TransactionCanceledException):
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": name, "Item": item(i, cust, at)}},
                    {"Put": {"TableName": name, "Item": item("never", "c0", "001"),
                             "ConditionExpression": "attribute_exists(Id)"}}])
        else:
            ddb.transact_write_items(TransactItems=[{"Update": {
                "TableName": name, "Key": {"Id": {"S": i}}, "UpdateExpression": "SET Cust = :c, #a = :a",
                "ExpressionAttributeNames": {"#a": "At"},
                "ExpressionAttributeValues": {":c": {"S": cust}, ":a": {"S": at}}}}])
            model[i] = (cust, at)
        check()
