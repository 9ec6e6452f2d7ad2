"""The choreographed checkout saga and the Second Look, as idempotent step functions.

Each step takes the EventBridge event's `detail` (an image with decimals as strings), re-reads the
authoritative item (the event is a trigger, the table is the truth) and returns True if it changed
something, False if there was nothing to do (a redelivery, or the saga moved on).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from services.cart import CartService
from services.catalog import CatalogService, NotFound, OutOfStock, movement, order_movement_id
from services.common import Retry, utcnow
from services.orders import OrdersService, order_from_cart
from services.payments import PAYMENT_TIMEOUT_MS, PaymentsService
from services.store import Store, error_code
from services.transactions import TransactionsService


@dataclass
class Services:
    store: Store
    cart: CartService
    catalog: CatalogService
    orders: OrdersService
    payments: PaymentsService
    transactions: TransactionsService

    @classmethod
    def build(cls, store: Store, clock: Callable[[], datetime] = utcnow, retry: Retry | None = None) -> Services:
        catalog = CatalogService(store, clock, retry)
        return cls(store, CartService(store, lambda sku: catalog.require(sku)["Price"], clock, retry), catalog,
                   OrdersService(store, clock), PaymentsService(store, clock), TransactionsService(store, clock))


# --- saga steps ------------------------------------------------------------------------------------
def create_order(svc: Services, d: dict[str, Any]) -> bool:
    cart = svc.cart.get(d["CartId"])
    if not cart or not cart["CheckOut"] or cart.get("OrderId") != d["OrderId"]:
        return False
    return svc.orders.create(order_from_cart(cart, d["OrderId"], cart["SagaMode"], svc.orders.clock()))


def reserve_stock(svc: Services, d: dict[str, Any]) -> bool:
    order = svc.orders.get(d["OrderId"])
    if not order or order["Status"] != "PENDING" or "Reservation" in order:
        return False
    oid = order["OrderId"]
    ms = [movement(ln["Sku"], order_movement_id(oid, ln["Sku"], "ORDER"), "SUB", ln["Qty"], "ORDER", oid)
          for ln in order["Lines"]]
    try:
        return svc.catalog.move_many(ms, [svc.orders.reserve_mark(oid)])
    except (OutOfStock, NotFound):
        return svc.orders.mark_out_of_stock(oid)
    except ClientError as e:
        if error_code(e) == "TransactionCanceledException":
            return False  # the order's condition failed: it moved on meanwhile
        raise


def release_stock(svc: Services, order: dict[str, Any]) -> bool:
    if order.get("Reservation") != "RESERVED" or order["Status"] != "CANCELLED":
        return False
    oid = order["OrderId"]
    ms = [movement(ln["Sku"], order_movement_id(oid, ln["Sku"], "RELEASE"), "ADD", ln["Qty"], "RELEASE", oid)
          for ln in order["Lines"]]
    try:
        return svc.catalog.move_many(ms, [svc.orders.release_mark(oid)])
    except ClientError as e:
        if error_code(e) == "TransactionCanceledException":
            return False
        raise


def charge(svc: Services, d: dict[str, Any]) -> bool:
    order = svc.orders.get(d["OrderId"])
    if not order or order["Status"] != "PENDING" or order.get("Reservation") != "RESERVED":
        return False
    return svc.payments.charge(order)


def settle_order(svc: Services, d: dict[str, Any]) -> bool:
    p = svc.payments.get(d["PaymentId"])
    if p is None:
        return False
    if p["Status"] == "DECLINED":
        return svc.orders.cancel(p["OrderId"], "PAYMENT_DECLINED", p["PaymentId"])
    if p["Status"] != "CAPTURED":
        return False
    if int(p.get("GatewayLatencyMs", 0)) > PAYMENT_TIMEOUT_MS:
        return svc.orders.cancel(p["OrderId"], "TIMEOUT", p["PaymentId"])
    return svc.orders.confirm(p["OrderId"], p["PaymentId"])


def post_card_transaction(svc: Services, d: dict[str, Any]) -> bool:
    p = svc.payments.get(d["PaymentId"])
    return bool(p) and svc.transactions.post_for_payment(p)  # type: ignore[arg-type]


def commit_cart(svc: Services, d: dict[str, Any]) -> bool:
    return svc.cart.commit_checkout(d["CartId"], d["OrderId"]).applied


def compensate(svc: Services, d: dict[str, Any]) -> bool:
    """OrderCancelled: roll the cart back, release reserved stock, refund a captured payment."""
    order = svc.orders.get(d["OrderId"])
    if not order or order["Status"] != "CANCELLED":
        return False
    changed = svc.cart.rollback_checkout(order["CartId"], order["OrderId"]).applied
    changed = release_stock(svc, order) or changed
    if order.get("PaymentId"):
        changed = svc.payments.refund(order["PaymentId"]) or changed
    return changed


def screen_transaction(svc: Services, d: dict[str, Any]) -> bool:
    return svc.transactions.screen(d["TransactionId"], d.get("CustomerId"), d.get("PostedAt")) > 0


SAGA_STEPS: dict[str, list[Callable[[Services, dict[str, Any]], bool]]] = {
    "CheckoutStarted": [create_order],
    "OrderPlaced": [reserve_stock],
    "InventoryReserved": [charge],
    "PaymentCaptured": [settle_order, post_card_transaction],
    "PaymentDeclined": [settle_order],
    "OrderConfirmed": [commit_cart],
    "OrderCancelled": [compensate],
}
SECOND_LOOK_STEPS: dict[str, list[Callable[[Services, dict[str, Any]], bool]]] = {
    "TransactionPosted": [screen_transaction],
}


def run(steps: dict[str, list[Callable[[Services, dict[str, Any]], bool]]], svc: Services,
        envelope: dict[str, Any]) -> bool:
    """Run every step for an EventBridge event envelope; True if any changed something."""
    changed = False
    for step in steps.get(envelope.get("detail-type", ""), []):
        changed = step(svc, envelope["detail"]) or changed
    return changed
