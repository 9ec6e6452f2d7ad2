"""EventBridge rules on the `cqrs-events` bus, targeting SQS queues (cqrs.resources.QUEUES).
The local stack and the CDK app create them from here; the in-process bus routes with them too."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAGA_EVENTS = ["CheckoutStarted", "OrderPlaced", "InventoryReserved", "PaymentCaptured", "PaymentDeclined",
               "OrderConfirmed", "OrderCancelled"]


@dataclass(frozen=True)
class Rule:
    name: str
    event_pattern: dict[str, Any]
    queue: str


RULES: tuple[Rule, ...] = (
    # Only choreographed sagas: the Step Functions saga writes the same items and must not be
    # driven a second time by their events.
    Rule("checkout-saga-steps", {"source": [{"prefix": "cqrs."}], "detail-type": SAGA_EVENTS,
                                 "detail": {"SagaMode": ["choreography"]}}, "saga-steps"),
    # Every posted card transaction: the saga's captures and the standalone card volume alike.
    Rule("second-look-transactions", {"source": ["cqrs.transactions"], "detail-type": ["TransactionPosted"]},
         "second-look"),
)


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """The subset of EventBridge pattern matching the rules above use: value lists, `prefix`,
    nested objects. Used by the in-process bus; EventBridge (or moto) does the real matching."""
    for field, want in pattern.items():
        have = event.get(field)
        if isinstance(want, dict):
            if not isinstance(have, dict) or not matches(want, have):
                return False
            continue
        ok = False
        for w in want:
            if isinstance(w, dict) and "prefix" in w:
                ok = isinstance(have, str) and have.startswith(w["prefix"])
            else:
                ok = have == w
            if ok:
                break
        if not ok:
            return False
    return True
