"""ProductCatalog: products (TranID "0") and their immutable stock movements.

Every stock change is ONE TransactWriteItems (the talk's idempotent inventory update): update the
product's Qty (+ Version) and Put the movement only if its TranID does not exist. A repeated movement
id cancels the transaction on the movement's condition: it was already applied, so it is a success
that changes nothing. A SUB carries `Qty >= :n`, so stock never goes negative.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from services.common import Retry, iso, money, positive_int, text, utcnow
from services.errors import ConflictError, InvalidState, NotFound, ValidationError
from services.store import Store, cancellation_codes, error_code, is_conditional_failure, tx_put, tx_update

TABLE = "ProductCatalog"
PRODUCT = "0"
ACTIONS = ("ADD", "SUB")
REASONS = ("INITIAL", "RESTOCK", "ORDER", "RELEASE", "ADJUST")


class OutOfStock(InvalidState):
    """A SUB larger than the stock on hand; nothing was written."""


@dataclass(frozen=True)
class Movement:
    product_id: str
    movement_id: str
    action: str
    qty: int
    reason: str
    order_id: str | None = None


def movement(product_id: Any, movement_id: Any, action: Any, qty: Any, reason: Any,
             order_id: str | None = None) -> Movement:
    """Validate a stock movement command (pure)."""
    text(product_id, "product id")
    text(movement_id, "movement id")
    if movement_id == PRODUCT:
        raise ValidationError('movement id "0" is reserved for the product item')
    if action not in ACTIONS:
        raise ValidationError(f"action must be one of {ACTIONS}, got {action!r}")
    if reason not in REASONS:
        raise ValidationError(f"reason must be one of {REASONS}, got {reason!r}")
    return Movement(product_id, movement_id, action, positive_int(qty), reason, order_id)


def order_movement_id(order_id: str, sku: str, reason: str) -> str:
    """Deterministic: a redelivered reservation or release reuses the id and is absorbed."""
    return f"{order_id}#{sku}#{reason}"


def movement_tx(m: Movement, now: datetime) -> list[dict[str, Any]]:
    """The two transaction items of one stock movement (pure)."""
    sign = "+" if m.action == "ADD" else "-"
    cond = "attribute_exists(ProductID)" + (" AND Qty >= :n" if m.action == "SUB" else "")
    item: dict[str, Any] = {"ProductID": m.product_id, "TranID": m.movement_id, "Action": m.action, "Qty": m.qty,
                            "DateTime": iso(now), "Reason": m.reason, "Version": 1}
    if m.order_id:
        item["OrderId"] = m.order_id
    return [
        tx_update(TABLE, {"ProductID": m.product_id, "TranID": PRODUCT},
                  f"SET Qty = Qty {sign} :n, Version = Version + :one, LastUpdate = :now", cond,
                  {":n": m.qty, ":one": 1, ":now": iso(now)}),
        tx_put(TABLE, item, "attribute_not_exists(TranID)"),
    ]


def classify_cancellation(codes: list[str], n_movements: int) -> str:
    """Why a stock transaction was cancelled (pure). Items come in pairs (product update, movement
    put), optionally followed by extra items. Returns "applied" (a movement already exists: the
    whole transaction ran before), "missing_or_short" (a product condition failed), or "other"."""
    pairs = codes[: 2 * n_movements]
    if any(c == "ConditionalCheckFailed" for c in pairs[1::2]):
        return "applied"
    if any(c == "ConditionalCheckFailed" for c in pairs[0::2]):
        return "missing_or_short"
    return "other"


class CatalogService:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow, retry: Retry | None = None):
        self.store, self.clock, self.retry = store, clock, retry or Retry()

    def product(self, product_id: str) -> dict[str, Any] | None:
        return self.store.get(TABLE, {"ProductID": product_id, "TranID": PRODUCT})

    def require(self, product_id: str) -> dict[str, Any]:
        p = self.product(product_id)
        if p is None:
            raise NotFound(f"unknown product {product_id!r}")
        return p

    def movements(self, product_id: str) -> list[dict[str, Any]]:
        items = self.store.query(TABLE, None, "ProductID = :p", {":p": product_id})
        return [i for i in items if i["TranID"] != PRODUCT]

    def create_product(self, product_id: str, name: str, category: str, price: Any, initial_qty: int) -> bool:
        """Product item and its INITIAL movement in one transaction. False if it already exists."""
        text(product_id, "product id")
        text(name, "name")
        text(category, "category")
        price = money(price, "price")
        qty = positive_int(initial_qty, "initial quantity")
        now = self.clock()
        mid = f"{product_id}#INITIAL"
        product = {"ProductID": product_id, "TranID": PRODUCT, "Name": name, "Category": category, "Price": price,
                   "Qty": qty, "LastUpdate": iso(now), "Version": 1}
        m = movement(product_id, mid, "ADD", qty, "INITIAL")
        try:
            self.store.transact([tx_put(TABLE, product, "attribute_not_exists(ProductID)"),
                                 movement_tx(m, now)[1]])
        except ClientError as e:
            if error_code(e) == "TransactionCanceledException":
                return False
            raise
        return True

    def change_price(self, product_id: str, price: Any) -> dict[str, Any]:
        """Optimistic concurrency on Version: the warehouse keeps the price history by version."""
        price = money(price, "price")
        for attempt in range(self.retry.attempts):
            p = self.require(product_id)
            try:
                return self.store.update(TABLE, {"ProductID": product_id, "TranID": PRODUCT},
                                         "SET Price = :p, LastUpdate = :now, Version = Version + :one",
                                         "Version = :v", {":p": price, ":now": iso(self.clock()), ":one": 1,
                                                          ":v": p["Version"]})
            except ClientError as e:
                if not is_conditional_failure(e):
                    raise
                self.retry.backoff(attempt)
        raise ConflictError(f"price change of {product_id!r} lost {self.retry.attempts} races; retry later")

    def move(self, m: Movement, extra: list[dict[str, Any]] | None = None) -> bool:
        """Apply one movement. True if applied now, False if this movement id was applied before."""
        return self.move_many([m], extra)

    def move_many(self, ms: list[Movement], extra: list[dict[str, Any]] | None = None) -> bool:
        """Several movements (and optional extra items, e.g. the order's reservation mark) as ONE
        transaction: all or nothing. Raises NotFound / OutOfStock, writing nothing."""
        if not ms or len(ms) * 2 + len(extra or []) > 100:
            raise ValidationError("a stock transaction holds 1 to 50 movements")
        now = self.clock()
        items = [i for m in ms for i in movement_tx(m, now)] + list(extra or [])
        try:
            self.store.transact(items)
            return True
        except ClientError as e:
            if error_code(e) != "TransactionCanceledException":
                raise
            codes = cancellation_codes(e)
            why = classify_cancellation(codes, len(ms))
            if why == "applied":
                return False
            if why == "missing_or_short":
                for m, code in zip(ms, codes[0::2]):
                    if code == "ConditionalCheckFailed":
                        p = self.product(m.product_id)
                        if p is None:
                            raise NotFound(f"unknown product {m.product_id!r}") from None
                        raise OutOfStock(f"{m.product_id}: {m.qty} requested, {p['Qty']} on hand") from None
            raise

    def stock_consistent(self, product_id: str) -> bool:
        """Qty equals the sum of the movements (the invariant the tests and the load check)."""
        p = self.require(product_id)
        total = sum((Decimal(m["Qty"]) if m["Action"] == "ADD" else -Decimal(m["Qty"]))
                    for m in self.movements(product_id))
        return p["Qty"] == total
