"""Cart: the talk's optimistic concurrency. Every write reads Version and writes
`IF Version = :v AND CheckOut = <expected>`, `SET Version = Version + 1`; a lost race is retried
(bounded, with jitter) and the winning write adds the number of lost races to ConflictCount."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from services.common import Retry, iso, plus, positive_int, text, utcnow
from services.errors import ConflictError, InvalidState, NotFound, ValidationError
from services.store import Store, is_conditional_failure

TABLE = "Cart"
CART_TTL_DAYS = 7
MAX_LINES = 25  # a reservation is one transaction: 2 items per line, 100 items at most
SAGA_MODES = ("choreography", "orchestration")


# --- pure ------------------------------------------------------------------------------------
def add_item(items: dict[str, Any], sku: str, qty: int, unit_price: Decimal) -> dict[str, Any]:
    out = {k: dict(v) for k, v in items.items()}
    line = out.get(sku)
    if line is None and len(out) >= MAX_LINES:
        raise ValidationError(f"a cart holds at most {MAX_LINES} products")
    out[sku] = {"Qty": (int(line["Qty"]) if line else 0) + qty, "UnitPrice": unit_price}
    return out


def remove_item(items: dict[str, Any], sku: str, qty: int | None = None) -> dict[str, Any]:
    out = {k: dict(v) for k, v in items.items()}
    if sku not in out:
        raise ValidationError(f"product {sku!r} is not in the cart")
    left = 0 if qty is None else int(out[sku]["Qty"]) - qty
    if left <= 0:
        del out[sku]
    else:
        out[sku]["Qty"] = left
    return out


@dataclass(frozen=True)
class Result:
    cart: dict[str, Any] | None
    conflicts: int = 0  # lost races this command retried
    applied: bool = True  # False: a duplicate of a command already applied (nothing written)


class CartService:
    def __init__(self, store: Store, price_of: Callable[[str], Decimal], clock: Callable[[], datetime] = utcnow,
                 retry: Retry | None = None, before_write: Callable[[], None] | None = None):
        self.store, self.price_of, self.clock = store, price_of, clock
        self.retry = retry or Retry()
        self.before_write = before_write  # test hook: widen the read-to-write window

    def get(self, cart_id: str) -> dict[str, Any] | None:
        return self.store.get(TABLE, {"CartId": cart_id})

    def create(self, cart_id: str, customer_id: str) -> Result:
        text(cart_id, "cart id")
        text(customer_id, "customer id")
        now = self.clock()
        item = {"CartId": cart_id, "CustomerId": customer_id, "CartItems": {}, "CheckOut": False, "Status": "OPEN",
                "ConflictCount": 0, "CreatedAt": iso(now), "UpdatedAt": iso(now),
                "ExpiresAt": int(plus(now, days=CART_TTL_DAYS).timestamp()), "Version": 1}
        try:
            self.store.put(TABLE, item, "attribute_not_exists(CartId)")
        except ClientError as e:
            if not is_conditional_failure(e):
                raise
            return Result(self.get(cart_id), applied=False)
        return Result(item)

    # --- the OCC loop -------------------------------------------------------------------------
    def _occ(self, cart_id: str, plan: Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None],
             checkout: bool) -> Result:
        """Read, plan the SET clause (or None: nothing to do), write IF Version = read AND
        CheckOut = `checkout`. Retry lost races."""
        conflicts = 0
        for attempt in range(self.retry.attempts):
            cart = self.get(cart_id)
            if cart is None:
                raise NotFound(f"unknown cart {cart_id!r}")
            planned = plan(cart)
            if planned is None:
                return Result(cart, conflicts, applied=False)
            sets, values = planned
            if self.before_write:
                self.before_write()
            try:
                new = self.store.update(
                    TABLE, {"CartId": cart_id},
                    f"SET {sets}, UpdatedAt = :now, Version = Version + :one, ConflictCount = ConflictCount + :c",
                    "Version = :v AND CheckOut = :co",
                    {**values, ":now": iso(self.clock()), ":one": 1, ":c": conflicts, ":v": cart["Version"],
                     ":co": checkout}, {"#s": "Status"} if "#s" in sets else None)
                return Result(new, conflicts)
            except ClientError as e:
                if not is_conditional_failure(e):
                    raise
                conflicts += 1
                self.retry.backoff(attempt)
        raise ConflictError(f"cart {cart_id!r}: {conflicts} concurrent writers won in a row; retry later")

    def _open(self, cart: dict[str, Any]) -> None:
        if cart["CheckOut"]:
            raise InvalidState(f"cart {cart['CartId']!r} is checking out; items cannot change until it ends")
        if cart["Status"] == "ABANDONED":
            raise InvalidState(f"cart {cart['CartId']!r} was abandoned")

    def add(self, cart_id: str, sku: Any, qty: Any) -> Result:
        text(sku, "sku")
        n = positive_int(qty)
        price = self.price_of(sku)  # NotFound for an unknown product, before any write

        def plan(cart: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            self._open(cart)
            return "CartItems = :items, #s = :open", {":items": add_item(cart["CartItems"], sku, n, price),
                                                      ":open": "OPEN"}
        return self._occ(cart_id, plan, checkout=False)

    def remove(self, cart_id: str, sku: Any, qty: Any = None) -> Result:
        text(sku, "sku")
        n = None if qty is None else positive_int(qty)

        def plan(cart: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            self._open(cart)
            return "CartItems = :items", {":items": remove_item(cart["CartItems"], sku, n)}
        return self._occ(cart_id, plan, checkout=False)

    # --- checkout: begin / commit / rollback (the talk's four update scenarios) ----------------
    def begin_checkout(self, cart_id: str, order_id: str, payment_method: str, saga_mode: str) -> Result:
        text(order_id, "order id")
        text(payment_method, "payment method")
        if saga_mode not in SAGA_MODES:
            raise ValidationError(f"saga mode must be one of {SAGA_MODES}, got {saga_mode!r}")

        def plan(cart: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
            if cart.get("OrderId") == order_id:
                return None  # a duplicate of this checkout (running or over): absorbed
            self._open(cart)
            if not cart["CartItems"]:
                raise ValidationError(f"cart {cart_id!r} is empty")
            return ("CheckOut = :t, #s = :st, OrderId = :o, PaymentMethod = :pm, SagaMode = :m",
                    {":t": True, ":st": "CHECKING_OUT", ":o": order_id, ":pm": payment_method, ":m": saga_mode})
        return self._occ(cart_id, plan, checkout=False)

    def _end(self, cart_id: str, order_id: str, sets: str, values: dict[str, Any]) -> Result:
        def plan(cart: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
            if not cart["CheckOut"] or cart.get("OrderId") != order_id:
                return None  # already ended (redelivery) or another checkout's cart state
            return sets, values
        return self._occ(cart_id, plan, checkout=True)

    def commit_checkout(self, cart_id: str, order_id: str) -> Result:
        return self._end(cart_id, order_id, "CartItems = :empty, CheckOut = :f, #s = :st",
                         {":empty": {}, ":f": False, ":st": "CHECKED_OUT"})

    def rollback_checkout(self, cart_id: str, order_id: str) -> Result:
        return self._end(cart_id, order_id, "CheckOut = :f, #s = :st", {":f": False, ":st": "OPEN"})

    # --- end of life ------------------------------------------------------------------------
    def abandon(self, cart_id: str) -> Result:
        """Marks the cart ABANDONED and due for TTL expiry now."""
        def plan(cart: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
            if cart["Status"] == "ABANDONED":
                return None
            return "#s = :st, ExpiresAt = :exp", {":st": "ABANDONED", ":exp": int(self.clock().timestamp())}
        return self._occ(cart_id, plan, checkout=False)

    def delete(self, cart_id: str) -> bool:
        """A user delete (or, locally, the stand-in for a TTL expiry: moto never expires items)."""
        try:
            return self.store.delete(TABLE, {"CartId": cart_id}, "CheckOut = :f", {":f": False}) is not None
        except ClientError as e:
            if is_conditional_failure(e):
                raise InvalidState(f"cart {cart_id!r} is checking out or gone; not deleted") from None
            raise
