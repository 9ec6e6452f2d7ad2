"""Payments: the card rule (pure) and the payment items (capture, decline, refund).

Moto cannot run Lambda functions, so the Step Functions saga cannot call a card gateway: the
gateway's answer is a pure, deterministic rule on the card (like a payment provider's test cards),
computed before the saga starts and carried in its input. The choreographed saga uses the same rule.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from services.common import iso, utcnow
from services.errors import ValidationError
from services.store import Store, is_conditional_failure

TABLE = "Payments"
MERCHANT = "cqrs-shop"
COUNTRY = "US"
CURRENCY = "USD"
# A gateway answer slower than this fails the saga with TIMEOUT (and the capture is refunded).
PAYMENT_TIMEOUT_MS = 30_000

DECLINED_CARDS = {"4000000000000002": "card_declined", "4000000000009995": "insufficient_funds"}
SLOW_CARD = "4000000000000119"  # answers after the saga's deadline
CARD_LIMIT = Decimal("10000.00")


@dataclass(frozen=True)
class Authorization:
    approved: bool
    decline_reason: str | None
    latency_ms: int

    @property
    def timed_out(self) -> bool:
        return self.approved and self.latency_ms > PAYMENT_TIMEOUT_MS


def authorize(card: str, amount: Decimal) -> Authorization:
    """The card gateway's deterministic answer (pure)."""
    if not (isinstance(card, str) and card.isdigit() and 12 <= len(card) <= 19):
        raise ValidationError("card must be 12 to 19 digits")
    if card in DECLINED_CARDS:
        return Authorization(False, DECLINED_CARDS[card], 150)
    if amount > CARD_LIMIT:
        return Authorization(False, "over_limit", 150)
    if card == SLOW_CARD:
        return Authorization(True, None, PAYMENT_TIMEOUT_MS + 15_000)
    return Authorization(True, None, 120)


def payment_id(order_id: str) -> str:
    return f"pay-{order_id}"


def payment_item(order: dict[str, Any], auth: Authorization, now: datetime) -> dict[str, Any]:
    """The Payments item the saga writes for an order (pure)."""
    item: dict[str, Any] = {
        "PaymentId": payment_id(order["OrderId"]), "OrderId": order["OrderId"], "CustomerId": order["CustomerId"],
        "Amount": order["TotalAmount"], "Currency": order.get("Currency", CURRENCY),
        "Status": "CAPTURED" if auth.approved else "DECLINED", "Merchant": MERCHANT, "Country": COUNTRY,
        "GatewayLatencyMs": auth.latency_ms, "SagaMode": order.get("SagaMode", "choreography"),
        "CreatedAt": iso(now), "UpdatedAt": iso(now), "Version": 1,
    }
    if auth.decline_reason:
        item["DeclineReason"] = auth.decline_reason
    return item


class PaymentsService:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow):
        self.store, self.clock = store, clock

    def get(self, pid: str) -> dict[str, Any] | None:
        return self.store.get(TABLE, {"PaymentId": pid})

    def charge(self, order: dict[str, Any]) -> bool:
        """Capture or decline the order's payment, once. False: already recorded (redelivery)."""
        auth = authorize(order["PaymentMethod"], order["TotalAmount"])
        try:
            self.store.put(TABLE, payment_item(order, auth, self.clock()), "attribute_not_exists(PaymentId)")
            return True
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise

    def refund(self, pid: str) -> bool:
        """Compensation: CAPTURED -> REFUNDED, once. False if not captured (nothing to refund)."""
        try:
            self.store.update(TABLE, {"PaymentId": pid}, "SET #s = :r, UpdatedAt = :now, Version = Version + :one",
                              "#s = :c", {":r": "REFUNDED", ":c": "CAPTURED", ":now": iso(self.clock()), ":one": 1},
                              {"#s": "Status"})
            return True
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise
