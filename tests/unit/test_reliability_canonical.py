"""The canonical form reconcile compares: exact, store-independent, and sensitive to every difference."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

from ingestion.change_event import decode_lambda_event
from reliability import synth
from reliability.canonical import (
    VIEWS_BY_NAME,
    canon_value,
    checksum,
    columns_to_image,
    diff,
    row_from_columns,
    row_from_item,
)
from reliability.replay import image_from_lake_row

CART = VIEWS_BY_NAME["carts"]
PRODUCTS = VIEWS_BY_NAME["products"]


def test_numbers_are_exact_text_whatever_their_scale():
    assert canon_value(Decimal("12.50"), "decimal") == canon_value(Decimal("12.5"), "decimal") == "12.5"
    assert canon_value(Decimal("0.00"), "decimal") == "0"
    assert canon_value(2 ** 53 + 1, "decimal") == "9007199254740993"
    big = "12345678901234567890123456789012345.78"  # 37 digits: no float anywhere
    assert canon_value(Decimal(big), "decimal") == big
    assert canon_value("12.50", "decimal") == "12.5"  # search keeps money as decimal text


def test_timestamps_from_every_store_are_one_text():
    iso = "2026-11-27T06:22:00.123456Z"
    aware = datetime(2026, 11, 27, 6, 22, 0, 123456, tzinfo=UTC)
    naive = aware.replace(tzinfo=None)  # warehouse TIMESTAMP (UTC)
    assert canon_value(iso, "timestamp") == canon_value(aware, "timestamp") == canon_value(naive, "timestamp") == iso


def test_an_item_and_its_read_model_row_agree_and_any_change_shows():
    item = {"CartId": "c1", "CustomerId": "u1", "Status": "OPEN", "CheckOut": False, "ConflictCount": Decimal(1),
            "CartItems": {"A": {"Qty": Decimal(2), "UnitPrice": Decimal("1.50")}, "B": {"Qty": Decimal(3)}},
            "CreatedAt": "2026-11-27T06:22:00.000001Z", "UpdatedAt": "2026-11-27T06:23:00.000001Z",
            "Version": Decimal(4)}
    row = {"cart_id": "c1", "customer_id": "u1", "status": "OPEN", "checked_out": False, "item_count": 5,
           "conflict_count": 1, "created_at": datetime(2026, 11, 27, 6, 22, 0, 1),
           "updated_at": datetime(2026, 11, 27, 6, 23, 0, 1, tzinfo=UTC), "version": 4}
    a, b = row_from_item(CART, item), row_from_columns(CART, row)
    assert a == b and checksum([a]) == checksum([b])
    other = row_from_columns(CART, {**row, "item_count": 2})
    (d,) = diff(CART, "warehouse", {a.key: a}, {other.key: other})
    assert (d.kind, d.columns) == ("different", ("item_count",))
    stale = row_from_columns(CART, {**row, "version": 3})
    assert diff(CART, "lake", {a.key: a}, {stale.key: stale})[0].kind == "stale"
    assert diff(CART, "lake", {a.key: a}, {})[0].kind == "missing"
    assert diff(CART, "lake", {}, {a.key: a})[0].kind == "extra"


def test_synthesized_records_decode_to_the_same_change():
    img = {"ProductID": "p1", "TranID": "0", "Name": "Mug", "Price": Decimal("9999999999999999.99"),
           "Qty": Decimal(2 ** 53 + 1), "Version": Decimal(7)}
    up = synth.upsert("ProductCatalog", img, "us-east-1", "x-ProductCatalog")
    gone = synth.tombstone("ProductCatalog", img, "us-east-1", "x-ProductCatalog")
    batch = decode_lambda_event({"Records": [up, gone]}, prefix="x-")
    assert not batch.failures
    u, t = batch.events
    assert (u.operation, u.version, u.new_image) == ("MODIFY", 7, img)
    assert (t.operation, t.version, t.old_image, t.entity) == ("REMOVE", 8, img, "product")
    # Longer than any Kinesis sequence number: the lake's tie-break prefers the re-projected state.
    assert len(up["kinesis"]["sequenceNumber"]) == 57  # Kinesis: 56 digits
    assert json.loads(base64.b64decode(up["kinesis"]["data"]))["tableName"] == "x-ProductCatalog"


def test_a_read_model_row_becomes_a_tombstone_image_and_a_lake_row_an_exact_image():
    row = {"product_id": "p1", "name": "Mug", "category": "k", "price": Decimal("12.50"), "qty": 3,
           "last_update": datetime(2026, 11, 27, 6, 0, tzinfo=UTC), "version": 5}
    img = columns_to_image(PRODUCTS, row)
    assert img == {"ProductID": "p1", "TranID": "0", "Name": "Mug", "Category": "k", "Price": Decimal("12.50"),
                   "Qty": Decimal(3), "LastUpdate": "2026-11-27T06:00:00.000000Z", "Version": Decimal(5)}
    lake = {"order_id": "o1", "customer_id": "u", "cart_id": "c", "status": "PENDING", "total_amount": Decimal("25.00"),
            "lines": '[{"LineAmount":"25.00","Qty":"2","Sku":"A","UnitPrice":"12.50"}]', "currency": "USD",
            "cancel_reason": None, "saga_mode": "choreography",
            "created_at": datetime(2026, 11, 27, tzinfo=UTC), "updated_at": None}
    o = image_from_lake_row("order", lake)
    assert o["Lines"] == [{"LineAmount": Decimal("25.00"), "Qty": Decimal(2), "Sku": "A", "UnitPrice": Decimal("12.50")}]
    assert o["TotalAmount"] == Decimal("25.00") and "CancelReason" not in o
