"""ChangeEvent -> EventBridge PutEvents entries: the domain events, derived from the change stream
(never dual-written by the services). Pure.

Each aggregate write records what just happened in the new image (the order's `SagaStep`, the cart's
`Status`, a payment's `Status`, an inserted transaction or alert), so the mapping needs only the new
image and is the same for a stream record and for the in-process bus. The caller sets EventBusName.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ingestion.change_event import ChangeEvent

ORDER_STEPS = {
    "PLACED": [("cqrs.orders", "OrderPlaced")],
    "RESERVED": [("cqrs.inventory", "InventoryReserved")],
    "RESERVATION_FAILED": [("cqrs.inventory", "InventoryReservationFailed"), ("cqrs.orders", "OrderCancelled")],
    "CONFIRMED": [("cqrs.orders", "OrderConfirmed")],
    "CANCELLED": [("cqrs.orders", "OrderCancelled")],
    "RELEASED": [("cqrs.inventory", "InventoryReleased")],
}
CART_STATUS = {"CHECKING_OUT": "CheckoutStarted", "CHECKED_OUT": "CheckoutCommitted", "ABANDONED": "CartAbandoned"}
PAYMENT_STATUS = {"CAPTURED": "PaymentCaptured", "DECLINED": "PaymentDeclined", "REFUNDED": "PaymentRefunded"}


def _plain(v: Any) -> Any:
    """JSON-safe detail: decimals as strings (exact), sets as sorted lists."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted(_plain(x) for x in v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def _entry(source: str, detail_type: str, change: ChangeEvent, image: dict[str, Any]) -> dict[str, Any]:
    # Version as a number (the order of truth); every other number as an exact string.
    detail = {**_plain(image), "Key": _plain(change.key), "Version": change.version, "Entity": change.entity}
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail, sort_keys=True),
            "Resources": [change.key_string]}


def to_domain_events(change: ChangeEvent) -> list[dict[str, Any]]:
    if change.is_delete or change.new_image is None:
        if change.table == "Cart" and change.old_image is not None:
            return [_entry("cqrs.cart", "CartExpired" if change.is_ttl_expiry else "CartDeleted", change,
                           change.old_image)]
        return []
    img = change.new_image
    if change.table == "Orders":
        return [_entry(src, dt, change, img) for src, dt in ORDER_STEPS.get(str(img.get("SagaStep")), [])]
    if change.table == "Cart":
        dt = CART_STATUS.get(str(img.get("Status")))
        return [_entry("cqrs.cart", dt, change, img)] if dt else []
    if change.table == "Payments":
        dt = PAYMENT_STATUS.get(str(img.get("Status")))
        return [_entry("cqrs.payments", dt, change, img)] if dt else []
    if change.table == "Transactions" and change.operation == "INSERT":
        return [_entry("cqrs.transactions", "TransactionPosted", change, img)]
    if change.table == "Alerts" and change.operation == "INSERT":
        return [_entry("cqrs.secondlook", "AlertRaised", change, img)]
    return []
