"""The warehouse projector in its real place: a write to the command side's DynamoDB table reaches
the warehouse through DynamoDB Streams, the forwarder, Kinesis and the local runner's event source
mapping (the same handler, event shapes and mapping settings as in AWS)."""
from __future__ import annotations

import time
import uuid
from decimal import Decimal

from ingestion.change_event import encode_image
from projections.warehouse.adapters import PostgresWarehouse
from tests.factories import D


def wait_for(fn, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_a_command_side_write_and_its_removal_reach_the_warehouse(local_stack):
    s = local_stack
    oid = f"pipe-{uuid.uuid4().hex[:8]}"
    item = {"OrderId": oid, "CustomerId": "c-pipe", "CartId": "k", "Status": "CONFIRMED",
            "Lines": [{"Sku": "S1", "Qty": D(3), "UnitPrice": D("33.33"), "LineAmount": D("99.99")}],
            "TotalAmount": D("99.99"), "Currency": "USD", "SagaMode": "orchestration",
            "CreatedAt": "2026-11-27T06:22:00.000000Z", "UpdatedAt": "2026-11-27T06:22:00.000000Z", "Version": D(1)}
    ddb = s.boto3_client("dynamodb")
    ddb.put_item(TableName=s.table("Orders"), Item=encode_image(item))
    wh = PostgresWarehouse(s.warehouse_dsn)
    q = "SELECT total_amount, version, is_deleted FROM fact_orders WHERE order_id = %s"
    assert wait_for(lambda: wh.query(q, (oid,))[1]) == [(Decimal("99.99"), 1, False)]

    ddb.delete_item(TableName=s.table("Orders"), Key=encode_image({"OrderId": oid}))
    assert wait_for(lambda: wh.query(q, (oid,))[1] == [(Decimal("99.99"), 2, True)] and [1]), \
        f"the removal never reached the warehouse: {wh.query(q, (oid,))[1]}"
    assert wh.query("SELECT sku, qty, line_amount, is_deleted FROM fact_order_lines WHERE order_id = %s",
                    (oid,))[1] == [("S1", 3, Decimal("99.99"), True)]
