"""The checkout saga orchestrated by Step Functions (services/asl/checkout_saga.asl.json).

The state machine uses DynamoDB tasks only (moto runs those; it cannot run Lambda), so everything
that needs code is computed here, before the execution starts, and carried in its input: the
order item, the stock transaction (the same items `services.catalog` writes), the payment item and
the card gateway's answer from `services.payments.authorize`. The ASL then makes exactly the writes
the choreographed steps make, with the same conditions, so both sagas end in the same states.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from cqrs.settings import Settings
from services.catalog import TABLE as CATALOG
from services.catalog import movement, movement_tx, order_movement_id
from services.common import iso, utcnow
from services.errors import InvalidState, NotFound, ValidationError
from services.orders import OrdersService, order_from_cart
from services.payments import authorize, payment_item
from services.store import Store, to_ddb
from services.transactions import transaction

ASL = Path(__file__).parent / "asl" / "checkout_saga.asl.json"
MACHINE = "checkout-saga"
LOCAL_ROLE = "arn:aws:iam::123456789012:role/checkout-saga"  # moto does not check roles


def machine_name(settings: Settings) -> str:
    return f"{settings.table_prefix}{MACHINE}"


def saga_input(settings: Settings, cart: dict[str, Any], order_id: str, card: str, now: datetime) -> dict[str, Any]:
    """The execution input for checking out `cart` (as read, with its Version) (pure)."""
    if cart["CheckOut"]:
        raise InvalidState(f"cart {cart['CartId']!r} is already checking out")
    if not cart["CartItems"]:
        raise ValidationError(f"cart {cart['CartId']!r} is empty")
    wire = Store(None, settings)._wire  # the same DynamoDB JSON the services send
    order = order_from_cart({**cart, "PaymentMethod": card}, order_id, "orchestration", now)
    orders = OrdersService(Store(None, settings), lambda: now)
    reserve = [movement(ln["Sku"], order_movement_id(order_id, ln["Sku"], "ORDER"), "SUB", ln["Qty"], "ORDER",
                        order_id) for ln in order["Lines"]]
    release = [movement(ln["Sku"], order_movement_id(order_id, ln["Sku"], "RELEASE"), "ADD", ln["Qty"], "RELEASE",
                        order_id) for ln in order["Lines"]]
    auth = authorize(card, order["TotalAmount"])
    outcome = "DECLINED" if not auth.approved else ("LATE" if auth.timed_out else "APPROVED")
    pay = payment_item(order, auth, now)
    txn = transaction(f"txn-{pay['PaymentId']}", pay["CustomerId"], pay["Merchant"], pay["Amount"], pay["Country"],
                      now, payment_id=pay["PaymentId"], currency=pay["Currency"])
    return {
        "OrderId": order_id,
        "now": iso(now),
        "tables": {t: settings.table(t) for t in ("Cart", "Orders", "Payments", "Transactions", CATALOG)},
        "cart": {"Key": to_ddb({"CartId": cart["CartId"]}), "Version": str(cart["Version"]),
                 "VersionAfterBegin": str(int(cart["Version"]) + 1), "PaymentMethod": card},
        "order": {"Key": to_ddb({"OrderId": order_id}), "Item": to_ddb(order)},
        "reserve": {"TransactItems": [wire(i) for m in reserve for i in movement_tx(m, now)]
                    + [wire(orders.reserve_mark(order_id))],
                    "FirstMovementKey": to_ddb({"ProductID": reserve[0].product_id,
                                                "TranID": reserve[0].movement_id})},
        "release": {"TransactItems": [wire(i) for m in release for i in movement_tx(m, now)]
                    + [wire(orders.release_mark(order_id))]},
        "payment": {"Outcome": outcome, "PaymentId": pay["PaymentId"], "Key": to_ddb({"PaymentId": pay["PaymentId"]}),
                    "Item": to_ddb(pay)},
        "transaction": {"Item": to_ddb(txn)},
        "cancelReason": "",
    }


def provision(settings: Settings) -> str:
    """Provisioning step: create or update the state machine (idempotent). Returns its ARN."""
    sfn = settings.boto3_client("stepfunctions")
    name, definition = machine_name(settings), ASL.read_text()
    for page in sfn.get_paginator("list_state_machines").paginate():
        for m in page["stateMachines"]:
            if m["name"] == name:
                sfn.update_state_machine(stateMachineArn=m["stateMachineArn"], definition=definition)
                return str(m["stateMachineArn"])
    return str(sfn.create_state_machine(name=name, definition=definition, roleArn=LOCAL_ROLE)["stateMachineArn"])


class Orchestrator:
    def __init__(self, settings: Settings, store: Store, sfn: Any, arn: str | None = None):
        self.settings, self.store, self.sfn = settings, store, sfn
        self.arn = arn or self._find()

    def _find(self) -> str:
        name = machine_name(self.settings)
        for page in self.sfn.get_paginator("list_state_machines").paginate():
            for m in page["stateMachines"]:
                if m["name"] == name:
                    return str(m["stateMachineArn"])
        raise NotFound(f"state machine {name!r} does not exist; run `cqrs up` to provision it")

    def start(self, cart_id: str, order_id: str, card: str, now: datetime | None = None) -> bool:
        """Start the saga for a cart; the execution is named by the order id, so a duplicated
        command is absorbed (False)."""
        cart = self.store.get("Cart", {"CartId": cart_id})
        if cart is None:
            raise NotFound(f"unknown cart {cart_id!r}")
        if cart.get("OrderId") == order_id:
            # The execution's first step already marked the cart for this order (running or over): a
            # duplicate, absorbed as the choreographed checkout absorbs it. Found when a faster moto let
            # the first step win the race against an immediate duplicate (InvalidState was raised).
            return False
        payload = saga_input(self.settings, cart, order_id, card, now or utcnow())
        try:
            self.sfn.start_execution(stateMachineArn=self.arn, name=order_id, input=json.dumps(payload))
            return True
        except ClientError as e:
            if e.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return False
            raise

    def execution_arn(self, order_id: str) -> str:
        return self.arn.replace(":stateMachine:", ":execution:") + f":{order_id}"

    def wait(self, order_ids: list[str], timeout: float = 60.0,
             progress: Any = None) -> dict[str, dict[str, Any]]:
        """Poll until every execution ended or the timeout passed; {order_id: describe_execution}."""
        pending, done = set(order_ids), {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for oid in sorted(pending):
                d = self.sfn.describe_execution(executionArn=self.execution_arn(oid))
                if d["status"] != "RUNNING":
                    done[oid] = d
                    pending.discard(oid)
                    if progress:
                        progress(1)
            if pending:
                time.sleep(0.05)
        for oid in pending:
            done[oid] = {"status": "RUNNING"}
        return done
