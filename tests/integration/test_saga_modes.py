"""The checkout saga on the local stack, choreographed in-process (InlineBus over moto's DynamoDB)
and orchestrated by moto's Step Functions: each path leaves cart, stock, order and payment
consistent, and both forms end in the same states."""
from __future__ import annotations

import uuid

import pytest

from services.bus import InlineBus
from services.orchestration import Orchestrator
from services.payments import SLOW_CARD
from services.steps import Services
from services.store import Store

pytestmark = pytest.mark.integration
GOOD, DECLINED = "4242424242424242", "4000000000000002"

CASES = {  # card, cart lines (product index -> qty), expected end state
    "success": (GOOD, {0: 2}, ("CONFIRMED", None, "RESERVED", 3, "CHECKED_OUT", False, 0, 4, "CAPTURED", 1, (3, 1))),
    "out_of_stock": (GOOD, {0: 1, 1: 3},
                     ("CANCELLED", "OUT_OF_STOCK", "FAILED", 2, "OPEN", False, 2, 5, None, None, (5, 1))),
    "declined": (DECLINED, {0: 1},
                 ("CANCELLED", "PAYMENT_DECLINED", "RELEASED", 4, "OPEN", False, 1, 4, "DECLINED", 1, (5, 1))),
    "timeout": (SLOW_CARD, {0: 1},
                ("CANCELLED", "TIMEOUT", "RELEASED", 4, "OPEN", False, 1, 4, "REFUNDED", 2, (5, 1))),
}


def setup(svc: Services, lines: dict[int, int]) -> tuple[str, list[str]]:
    tag = uuid.uuid4().hex[:8]
    products = [f"P-{tag}-0", f"P-{tag}-1"]
    svc.catalog.create_product(products[0], "Mug", "Kitchen", "9.99", 5)
    svc.catalog.create_product(products[1], "Cup", "Kitchen", "3.50", 1)
    cart = f"C-{tag}"
    svc.cart.create(cart, "u1")
    for i, q in lines.items():
        svc.cart.add(cart, products[i], q)
    return cart, products


def end_state(svc: Services, oid: str, cart_id: str, products: list[str]) -> tuple:
    o, c, p = svc.orders.get(oid), svc.cart.get(cart_id), svc.payments.get(f"pay-{oid}")
    assert all(svc.catalog.stock_consistent(x) for x in products)
    assert (svc.transactions.get(f"txn-pay-{oid}") is not None) == bool(p and p["Status"] != "DECLINED")
    return (o["Status"], o.get("CancelReason"), o.get("Reservation"), int(o["Version"]),
            c["Status"], c["CheckOut"], len(c["CartItems"]), int(c["Version"]),
            p and p["Status"], p and int(p["Version"]),
            tuple(int(svc.catalog.product(x)["Qty"]) for x in products))


@pytest.fixture(scope="module")
def results(local_stack):
    """Run every case in both forms once (the executions run concurrently on moto)."""
    store = Store(local_stack.boto3_client("dynamodb"), local_stack)
    inline = Services.build(store)
    InlineBus(duplicate_rate=1.0).attach(inline)  # every event twice: the steps absorb redeliveries
    plain = Services.build(Store(local_stack.boto3_client("dynamodb"), local_stack))
    orch = Orchestrator(local_stack, plain.store, local_stack.boto3_client("stepfunctions"))
    out, started = {}, {}
    for case, (card, lines, _) in CASES.items():
        cart, products = setup(inline, lines)
        inline.cart.begin_checkout(cart, f"o-{cart}", card, "choreography")
        out[("inline", case)] = end_state(inline, f"o-{cart}", cart, products)
        cart, products = setup(plain, lines)
        assert orch.start(cart, f"o-{cart}", card) is True
        assert orch.start(cart, f"o-{cart}", card) is False  # duplicated command: absorbed
        started[case] = (f"o-{cart}", cart, products)
    done = orch.wait([oid for oid, _, _ in started.values()], timeout=120)
    for case, (oid, cart, products) in started.items():
        assert done[oid]["status"] == "SUCCEEDED", done[oid]
        out[("orchestration", case)] = end_state(plain, oid, cart, products)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_inline_saga_path(results, case):
    assert results[("inline", case)] == CASES[case][2]


@pytest.mark.parametrize("case", sorted(CASES))
def test_orchestrated_saga_path_ends_like_the_choreographed(results, case):
    assert results[("orchestration", case)] == results[("inline", case)] == CASES[case][2]


def test_a_duplicate_start_after_the_first_step_is_absorbed(local_stack):
    """The duplicated command arrives after the execution has marked the cart (the order id on it):
    absorbed (False), as before that step, not refused as a cart already checking out."""
    import time

    plain = Services.build(Store(local_stack.boto3_client("dynamodb"), local_stack))
    orch = Orchestrator(local_stack, plain.store, local_stack.boto3_client("stepfunctions"))
    cart, products = setup(plain, {0: 1})
    oid = f"o-{cart}"
    assert orch.start(cart, oid, GOOD) is True
    deadline = time.monotonic() + 30
    while plain.cart.get(cart).get("OrderId") != oid and time.monotonic() < deadline:
        time.sleep(0.05)
    assert plain.cart.get(cart)["OrderId"] == oid  # the first step ran
    assert orch.start(cart, oid, GOOD) is False
    assert orch.wait([oid])[oid]["status"] == "SUCCEEDED"
    assert end_state(plain, oid, cart, products)[0] == "CONFIRMED"
