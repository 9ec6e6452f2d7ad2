"""The command side against moto's DynamoDB (the local stack): optimistic concurrency, idempotent
stock movements, bad commands, the Second Look, and moto's transaction rollback keeping the stream."""
from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.bus import InlineBus
from services.cart import CartService
from services.catalog import OutOfStock, movement
from services.common import Retry
from services.errors import ValidationError
from services.steps import Services
from services.store import Store
from services.transactions import transaction

pytestmark = pytest.mark.integration


@pytest.fixture
def svc(local_stack):
    return Services.build(Store(local_stack.boto3_client("dynamodb"), local_stack))


def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_two_writers_race_on_one_cart_exactly_one_wins_first(svc):
    p, c = f"P-{uid()}", f"C-{uid()}"
    svc.catalog.create_product(p, "Mug", "Kitchen", "9.99", 10)
    svc.catalog.create_product(p + "b", "Cup", "Kitchen", "2.00", 10)
    svc.cart.create(c, "u1")
    barrier = threading.Barrier(2)
    results = {}

    def writer(i: int, sku: str) -> None:
        once = [True]

        def hold() -> None:
            if once[0]:
                once[0] = False
                barrier.wait(timeout=20)
        cs = CartService(svc.store, svc.cart.price_of, retry=Retry(), before_write=hold)
        results[i] = cs.add(c, sku, 1)
    ts = [threading.Thread(target=writer, args=(i, s)) for i, s in enumerate((p, p + "b"))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(r.conflicts for r in results.values()) == [0, 1]
    cart = svc.cart.get(c)
    assert set(cart["CartItems"]) == {p, p + "b"}
    assert cart["Version"] == 3 and cart["ConflictCount"] == 1


def test_duplicate_movement_changes_stock_once_and_stock_never_negative(svc):
    p = f"P-{uid()}"
    svc.catalog.create_product(p, "Mug", "Kitchen", "9.99", 3)
    m = movement(p, "restock-1", "ADD", 4, "RESTOCK")
    assert svc.catalog.move(m) is True
    assert svc.catalog.move(m) is False
    assert svc.catalog.product(p)["Qty"] == 7
    with pytest.raises(OutOfStock):
        svc.catalog.move(movement(p, "big-sub", "SUB", 8, "ADJUST"))
    assert svc.catalog.move(movement(p, "all", "SUB", 7, "ADJUST")) is True
    prod = svc.catalog.product(p)
    assert prod["Qty"] == 0 and prod["Version"] == 3
    assert sorted(x["TranID"] for x in svc.catalog.movements(p)) == [f"{p}#INITIAL", "all", "restock-1"]
    assert svc.catalog.stock_consistent(p)


def test_bad_commands_write_nothing(svc, local_stack):
    p, c = f"P-{uid()}", f"C-{uid()}"
    svc.catalog.create_product(p, "Mug", "Kitchen", "9.99", 3)
    svc.cart.create(c, "u1")
    before = (svc.cart.get(c), svc.catalog.movements(p), svc.catalog.product(p))
    for bad in (lambda: svc.cart.add(c, "no-such-product", 1), lambda: svc.cart.add(c, p, 0),
                lambda: svc.catalog.move(movement(f"nope-{uid()}", "m", "ADD", 1, "RESTOCK")),
                lambda: svc.cart.begin_checkout(c, "o", "4242424242424242", "choreography"),
                lambda: svc.catalog.create_product(p + "x", "X", "Y", "-1.00", 1)):
        with pytest.raises(ValidationError):
            bad()
    assert (svc.cart.get(c), svc.catalog.movements(p), svc.catalog.product(p)) == before
    assert svc.catalog.product(p + "x") is None


def test_second_look_rules_fire_on_crafted_transactions(svc):
    InlineBus().attach(svc)
    cust, t0 = f"cust-{uid()}", datetime(2026, 11, 1, 12, tzinfo=UTC)
    for i in range(6):
        svc.transactions.post(transaction(f"{cust}-t{i}", cust, f"m{i}", "20.00", "US", t0 + timedelta(minutes=i)))
    svc.transactions.post(transaction(f"{cust}-dup", cust, "m5", "20.00", "US", t0 + timedelta(minutes=7)))
    svc.transactions.post(transaction(f"{cust}-big", cust, "luxury", "900.00", "FR", t0 + timedelta(minutes=30)))
    alerts = sorted((a["TransactionId"], a["Rule"]) for a in svc.store.scan("Alerts") if a["CustomerId"] == cust)
    assert alerts == [(f"{cust}-big", "AMOUNT_SPIKE"), (f"{cust}-big", "FIRST_LARGE_AT_MERCHANT"),
                      (f"{cust}-big", "FOREIGN_COUNTRY"), (f"{cust}-dup", "DUPLICATE_CHARGE")]
    assert svc.transactions.screen(f"{cust}-big") == 0  # idempotent alert ids


def test_cancelled_transaction_keeps_the_table_stream_flowing(svc, local_stack):
    """moto swapped the table on a cancelled transaction, orphaning its stream shard
    (cqrs/moto_server.py fixes it): changes after a cancellation must still reach a reader."""
    streams = local_stack.boto3_client("dynamodbstreams")
    arn = local_stack.boto3_client("dynamodb").describe_table(
        TableName=local_stack.table("ProductCatalog"))["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    p = f"P-{uid()}"
    svc.catalog.create_product(p, "Mug", "Kitchen", "9.99", 3)
    with pytest.raises(OutOfStock):
        svc.catalog.move(movement(p, "too-much", "SUB", 9, "ADJUST"))  # cancelled
    svc.catalog.move(movement(p, "after", "ADD", 1, "RESTOCK"))
    seen = []
    for _ in range(5):
        r = streams.get_records(ShardIterator=it)
        seen += [(x["eventName"], x["dynamodb"]["Keys"]["TranID"]["S"]) for x in r["Records"]
                 if x["dynamodb"]["Keys"]["ProductID"]["S"] == p]
        it = r["NextShardIterator"]
    assert seen == [("INSERT", "0"), ("INSERT", f"{p}#INITIAL"), ("MODIFY", "0"), ("INSERT", "after")]


def test_concurrent_conditional_writes_have_exactly_one_winner(local_stack):
    """moto's threaded server let two writers with the same `Version = :v` both win (a lost update);
    cqrs/moto_server.py serializes item writes as DynamoDB does."""
    from botocore.exceptions import ClientError

    ddb = local_stack.boto3_client("dynamodb")
    table = local_stack.table("Cart")
    for trial in range(10):
        cid = f"race-{uid()}"
        ddb.put_item(TableName=table, Item={"CartId": {"S": cid}, "Version": {"N": "1"}})
        barrier, wins = threading.Barrier(6), []

        def writer(barrier: threading.Barrier = barrier, cid: str = cid, wins: list[int] = wins) -> None:
            client = local_stack.boto3_client("dynamodb")
            barrier.wait(timeout=30)
            try:
                client.update_item(TableName=table, Key={"CartId": {"S": cid}},
                                   UpdateExpression="SET Version = Version + :one", ConditionExpression="Version = :v",
                                   ExpressionAttributeValues={":one": {"N": "1"}, ":v": {"N": "1"}})
                wins.append(1)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ConditionalCheckFailedException"
        ts = [threading.Thread(target=writer) for _ in range(6)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert len(wins) == 1, f"trial {trial}: {len(wins)} writers won"
