"""Orders: the order aggregate is also the saga's log. Every order write sets `SagaStep` (what just
happened), from which the domain events are derived (services.events), and is conditional on the
saga state, so a redelivered step changes nothing."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from services.common import iso, utcnow
from services.errors import ValidationError
from services.store import Store, is_conditional_failure, tx_update

TABLE = "Orders"
CANCEL_REASONS = ("OUT_OF_STOCK", "PAYMENT_DECLINED", "TIMEOUT")
TERMINAL = ("CONFIRMED", "CANCELLED")


def order_from_cart(cart: dict[str, Any], order_id: str, saga_mode: str, now: datetime) -> dict[str, Any]:
    """The PENDING order for a cart that began checkout (pure)."""
    items = cart.get("CartItems") or {}
    if not items:
        raise ValidationError(f"cart {cart.get('CartId')!r} has no items")
    lines, total = [], Decimal("0.00")
    for sku in sorted(items):
        qty, price = int(items[sku]["Qty"]), Decimal(items[sku]["UnitPrice"])
        amount = (price * qty).quantize(Decimal("0.01"))
        lines.append({"Sku": sku, "Qty": qty, "UnitPrice": price, "LineAmount": amount})
        total += amount
    return {"OrderId": order_id, "CustomerId": cart["CustomerId"], "CartId": cart["CartId"], "Status": "PENDING",
            "Lines": lines, "TotalAmount": total, "Currency": "USD", "SagaMode": saga_mode,
            "PaymentMethod": cart["PaymentMethod"], "SagaStep": "PLACED", "CreatedAt": iso(now),
            "UpdatedAt": iso(now), "Version": 1}


class OrdersService:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow):
        self.store, self.clock = store, clock

    def get(self, order_id: str) -> dict[str, Any] | None:
        return self.store.get(TABLE, {"OrderId": order_id})

    def create(self, order: dict[str, Any]) -> bool:
        try:
            self.store.put(TABLE, order, "attribute_not_exists(OrderId)")
            return True
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise

    def _step(self, order_id: str, sets: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            self.store.update(TABLE, {"OrderId": order_id},
                              f"SET {sets}, UpdatedAt = :now, Version = Version + :one", condition,
                              {**values, ":now": iso(self.clock()), ":one": 1}, {"#s": "Status"})
            return True
        except ClientError as e:
            if is_conditional_failure(e):
                return False  # already past this step (redelivery) or the saga moved on
            raise

    def reserve_mark(self, order_id: str) -> dict[str, Any]:
        """Transaction item written with the stock movements: the order notes the reservation."""
        return tx_update(TABLE, {"OrderId": order_id},
                         "SET Reservation = :r, SagaStep = :r, UpdatedAt = :now, Version = Version + :one",
                         "#s = :p AND attribute_not_exists(Reservation)",
                         {":r": "RESERVED", ":p": "PENDING", ":now": iso(self.clock()), ":one": 1}, {"#s": "Status"})

    def release_mark(self, order_id: str) -> dict[str, Any]:
        return tx_update(TABLE, {"OrderId": order_id},
                         "SET Reservation = :rel, SagaStep = :rel, UpdatedAt = :now, Version = Version + :one",
                         "Reservation = :r AND #s = :c",
                         {":rel": "RELEASED", ":r": "RESERVED", ":c": "CANCELLED", ":now": iso(self.clock()),
                          ":one": 1}, {"#s": "Status"})

    def mark_out_of_stock(self, order_id: str) -> bool:
        return self._step(order_id, "#s = :c, CancelReason = :why, Reservation = :f, SagaStep = :step",
                          "#s = :p AND attribute_not_exists(Reservation)",
                          {":c": "CANCELLED", ":why": "OUT_OF_STOCK", ":f": "FAILED", ":step": "RESERVATION_FAILED",
                           ":p": "PENDING"})

    def confirm(self, order_id: str, payment_id: str) -> bool:
        return self._step(order_id, "#s = :ok, PaymentId = :pid, SagaStep = :ok",
                          "#s = :p AND Reservation = :r",
                          {":ok": "CONFIRMED", ":pid": payment_id, ":p": "PENDING", ":r": "RESERVED"})

    def cancel(self, order_id: str, reason: str, payment_id: str | None = None) -> bool:
        if reason not in CANCEL_REASONS:
            raise ValidationError(f"cancel reason must be one of {CANCEL_REASONS}, got {reason!r}")
        sets = "#s = :c, CancelReason = :why, SagaStep = :c" + (", PaymentId = :pid" if payment_id else "")
        values: dict[str, Any] = {":c": "CANCELLED", ":why": reason, ":p": "PENDING"}
        if payment_id:
            values[":pid"] = payment_id
        return self._step(order_id, sets, "#s = :p", values)
