"""Command side against the in-memory DynamoDB fake: cart OCC, idempotent inventory, the inline
saga's four paths, Second Look rules, domain events, handlers. The same services run against moto
in tests/integration/test_services_*.py."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cqrs.settings import Settings
from ingestion.change_event import from_dynamodb_stream_record
from services import handlers
from services.bus import InlineBus
from services.catalog import OutOfStock, movement
from services.common import Retry
from services.errors import InvalidState, NotFound, ValidationError
from services.events import to_domain_events
from services.fakes import FakeDynamoDB
from services.orchestration import saga_input
from services.payments import SLOW_CARD
from services.rules import RULES, matches
from services.steps import Services
from services.store import Store
from services.transactions import second_look, transaction
from tests.factories import stream_record

GOOD, DECLINED = "4242424242424242", "4000000000000002"


def build(bus: bool = True, dup: float = 0.0):
    fake = FakeDynamoDB()
    svc = Services.build(Store(fake), retry=Retry(sleep=lambda s: None))
    b = InlineBus(duplicate_rate=dup, seed=1).attach(svc) if bus else None
    svc.catalog.create_product("P1", "Mug", "Kitchen", "9.99", 5)
    svc.catalog.create_product("P2", "Cup", "Kitchen", "3.50", 1)
    return fake, svc, b


def snapshot(fake: FakeDynamoDB) -> dict:
    import copy
    return copy.deepcopy(fake.tables)


# --- cart -----------------------------------------------------------------------------------------
def test_two_writers_race_one_wins_first_other_retries_and_counts_the_conflict():
    _fake, svc, _ = build(bus=False)
    svc.cart.create("c", "u")
    barrier = threading.Barrier(2)
    results = {}

    def writer(i: int, sku: str) -> None:
        once = [True]

        def hold() -> None:
            if once[0]:
                once[0] = False
                barrier.wait(timeout=5)
        from services.cart import CartService
        cs = CartService(svc.store, svc.cart.price_of, retry=Retry(sleep=lambda s: None), before_write=hold)
        results[i] = cs.add("c", sku, 1)
    ts = [threading.Thread(target=writer, args=(i, s)) for i, s in enumerate(("P1", "P2"))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(r.conflicts for r in results.values()) == [0, 1]
    cart = svc.cart.get("c")
    assert set(cart["CartItems"]) == {"P1", "P2"}
    assert cart["Version"] == 3 and cart["ConflictCount"] == 1


def test_cart_items_cannot_change_while_checking_out_and_checkout_is_idempotent():
    _, svc, _ = build(bus=False)
    svc.cart.create("c", "u")
    svc.cart.add("c", "P1", 2)
    assert svc.cart.begin_checkout("c", "o1", GOOD, "choreography").applied
    assert not svc.cart.begin_checkout("c", "o1", GOOD, "choreography").applied  # duplicate absorbed
    with pytest.raises(InvalidState):
        svc.cart.add("c", "P2", 1)
    assert not svc.cart.commit_checkout("c", "other-order").applied
    assert svc.cart.rollback_checkout("c", "o1").applied
    assert not svc.cart.rollback_checkout("c", "o1").applied
    cart = svc.cart.get("c")
    assert cart["Status"] == "OPEN" and cart["CheckOut"] is False and cart["CartItems"]["P1"]["Qty"] == 2


def test_abandon_and_delete():
    _fake, svc, _ = build(bus=False)
    svc.cart.create("c", "u")
    svc.cart.abandon("c")
    assert svc.cart.get("c")["Status"] == "ABANDONED"
    with pytest.raises(InvalidState):
        svc.cart.add("c", "P1", 1)
    assert svc.cart.delete("c") and svc.cart.get("c") is None


@pytest.mark.parametrize("call", [
    lambda s: s.cart.add("c", "NOPE", 1),
    lambda s: s.cart.add("c", "P1", 0),
    lambda s: s.cart.add("c", "P1", -2),
    lambda s: s.cart.add("c", "P1", "3"),
    lambda s: s.cart.add("missing-cart", "P1", 1),
    lambda s: s.catalog.create_product("P9", "X", "Y", 1.5, 3),  # float money
    lambda s: s.catalog.create_product("P9", "X", "Y", "1.999", 3),
    lambda s: s.catalog.move(movement("NOPE", "m1", "ADD", 1, "RESTOCK")),
    lambda s: s.catalog.move(movement("P1", "m1", "ADD", 0, "RESTOCK")),
    lambda s: s.catalog.move(movement("P1", "m1", "GIVE", 1, "RESTOCK")),
    lambda s: s.cart.begin_checkout("c", "o", GOOD, "choreography"),  # empty cart
    lambda s: s.transactions.post(transaction("t", "u", "m", "10.00", "usa", datetime.now(UTC))),
])
def test_bad_commands_raise_validation_error_and_write_nothing(call):
    fake, svc, _ = build(bus=False)
    svc.cart.create("c", "u")
    before = snapshot(fake)
    with pytest.raises(ValidationError):
        call(svc)
    assert snapshot(fake) == before


# --- inventory ------------------------------------------------------------------------------------
def test_duplicate_movement_changes_stock_once_and_qty_is_sum_of_movements():
    _fake, svc, _ = build(bus=False)
    m = movement("P1", "restock-1", "ADD", 7, "RESTOCK")
    assert svc.catalog.move(m) is True
    assert svc.catalog.move(m) is False
    p = svc.catalog.product("P1")
    assert p["Qty"] == 12 and p["Version"] == 2
    assert svc.catalog.stock_consistent("P1")


def test_stock_never_negative():
    fake, svc, _ = build(bus=False)
    before = snapshot(fake)
    with pytest.raises(OutOfStock):
        svc.catalog.move(movement("P2", "sub-1", "SUB", 2, "ADJUST"))
    assert svc.catalog.product("P2")["Qty"] == 1
    assert snapshot(fake) == before


def test_price_change_bumps_version():
    _, svc, _ = build(bus=False)
    svc.catalog.change_price("P1", "11.00")
    p = svc.catalog.product("P1")
    assert p["Price"] == Decimal("11.00") and p["Version"] == 2


# --- the inline saga ------------------------------------------------------------------------------
def checkout(svc: Services, cart_id: str, card: str, items: dict[str, int]) -> str:
    svc.cart.create(cart_id, "u1")
    for sku, q in items.items():
        svc.cart.add(cart_id, sku, q)
    svc.cart.begin_checkout(cart_id, f"o-{cart_id}", card, "choreography")
    return f"o-{cart_id}"


def states(svc: Services, oid: str, cart_id: str) -> tuple:
    o, c, p = svc.orders.get(oid), svc.cart.get(cart_id), svc.payments.get(f"pay-{oid}")
    return (o["Status"], o.get("CancelReason"), o.get("Reservation"), int(o["Version"]),
            c["Status"], c["CheckOut"], len(c["CartItems"]), int(c["Version"]),
            p and p["Status"], p and int(p["Version"]),
            tuple(int(svc.catalog.product(s)["Qty"]) for s in ("P1", "P2")))


SAGA_CASES = {
    "success": (GOOD, {"P1": 2}, ("CONFIRMED", None, "RESERVED", 3, "CHECKED_OUT", False, 0, 4, "CAPTURED", 1, (3, 1))),
    "out_of_stock": (GOOD, {"P1": 1, "P2": 3},
                     ("CANCELLED", "OUT_OF_STOCK", "FAILED", 2, "OPEN", False, 2, 5, None, None, (5, 1))),
    "declined": (DECLINED, {"P1": 1},
                 ("CANCELLED", "PAYMENT_DECLINED", "RELEASED", 4, "OPEN", False, 1, 4, "DECLINED", 1, (5, 1))),
    "timeout": (SLOW_CARD, {"P1": 1},
                ("CANCELLED", "TIMEOUT", "RELEASED", 4, "OPEN", False, 1, 4, "REFUNDED", 2, (5, 1))),
}


@pytest.mark.parametrize("case", sorted(SAGA_CASES))
def test_inline_saga_paths_leave_everything_consistent(case):
    card, items, expected = SAGA_CASES[case]
    _, svc, bus = build(dup=1.0)  # every event delivered twice: each step absorbs the redelivery
    oid = checkout(svc, "c1", card, items)
    assert states(svc, oid, "c1") == expected
    assert bus.failed == []
    assert bus.stats.duplicates > 0 and bus.stats.duplicates == bus.stats.duplicates_absorbed
    assert svc.catalog.stock_consistent("P1") and svc.catalog.stock_consistent("P2")
    txn = svc.transactions.get(f"txn-pay-{oid}")
    assert (txn is not None) == (expected[8] in ("CAPTURED", "REFUNDED"))


# --- second look ----------------------------------------------------------------------------------
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def txn(i: int, amount: str, merchant: str = "m1", country: str = "US", minutes: int = 0) -> dict:
    return transaction(f"t{i}", "u1", merchant, amount, country, T0 + timedelta(minutes=minutes))


def rules_of(t: dict, history: list[dict]) -> set[str]:
    return {r for r, _ in second_look(t, history)}


def test_second_look_rules():
    hist = [txn(i, "20.00", f"m{i}", minutes=i * 60) for i in range(6)]
    assert rules_of(txn(10, "20.00", "m5", minutes=5 * 60 + 4), hist) == {"DUPLICATE_CHARGE"}
    assert rules_of(txn(10, "20.00", "m5", minutes=5 * 60 + 6), hist) == set()
    assert rules_of(txn(10, "101.00", "m1", minutes=400), hist) == {"AMOUNT_SPIKE"}
    assert rules_of(txn(10, "99.00", "m1", minutes=400), hist) == set()
    assert "FIRST_LARGE_AT_MERCHANT" in rules_of(txn(10, "600.00", "new", minutes=400), hist)
    assert rules_of(txn(10, "20.00", "m1", "FR", minutes=400), hist) == {"FOREIGN_COUNTRY"}
    assert rules_of(txn(10, "20.00", "m1", "FR", minutes=400), hist[:2]) == set()  # home unknown yet


def test_screening_raises_each_alert_once():
    fake, svc, _bus = build()
    for i in range(6):
        svc.transactions.post(txn(i, "20.00", f"m{i}", minutes=i))
    svc.transactions.post(txn(99, "900.00", "luxury", "FR", minutes=10))
    rules = sorted(a["Rule"] for a in fake.tables["Alerts"].values())
    assert rules == ["AMOUNT_SPIKE", "FIRST_LARGE_AT_MERCHANT", "FOREIGN_COUNTRY"]
    assert svc.transactions.screen("t99") == 0  # re-run: idempotent alert ids
    assert {a["AlertId"] for a in fake.tables["Alerts"].values()} == {
        "t99#AMOUNT_SPIKE", "t99#FIRST_LARGE_AT_MERCHANT", "t99#FOREIGN_COUNTRY"}


# --- events, rules, handlers ----------------------------------------------------------------------
def test_domain_events_from_stream_records_keep_decimals_exact():
    order = {"OrderId": "o1", "CustomerId": "u", "CartId": "c", "Status": "CONFIRMED", "SagaStep": "CONFIRMED",
             "TotalAmount": Decimal("12345678901234567890.12"), "SagaMode": "choreography", "Version": 3}
    ev = from_dynamodb_stream_record(stream_record("Orders", "MODIFY", order, {**order, "Version": 2}))
    (entry,) = to_domain_events(ev)
    assert entry["Source"] == "cqrs.orders" and entry["DetailType"] == "OrderConfirmed"
    detail = json.loads(entry["Detail"])
    assert detail["TotalAmount"] == "12345678901234567890.12" and detail["Version"] == 3
    pay = {"PaymentId": "p", "OrderId": "o1", "Status": "CAPTURED", "Amount": Decimal("1.10"), "Version": 1}
    assert [e["DetailType"] for e in to_domain_events(
        from_dynamodb_stream_record(stream_record("Payments", "INSERT", pay)))] == ["PaymentCaptured"]
    mv = {"ProductID": "P1", "TranID": "m", "Action": "ADD", "Qty": 1, "Version": 1}
    assert to_domain_events(from_dynamodb_stream_record(stream_record("ProductCatalog", "INSERT", mv))) == []
    cart = {"CartId": "c", "Status": "ABANDONED", "Version": 4}
    ttl = from_dynamodb_stream_record(stream_record("Cart", "REMOVE", None, cart, ttl=True))
    assert [e["DetailType"] for e in to_domain_events(ttl)] == ["CartExpired"]


def test_rules_route_only_choreographed_saga_events():
    saga, look = RULES
    ev = {"source": "cqrs.orders", "detail-type": "OrderConfirmed", "detail": {"SagaMode": "choreography"}}
    assert matches(saga.event_pattern, ev)
    assert not matches(saga.event_pattern, {**ev, "detail": {"SagaMode": "orchestration"}})
    assert matches(look.event_pattern, {"source": "cqrs.transactions", "detail-type": "TransactionPosted",
                                        "detail": {}})
    assert {r.queue for r in RULES} == {"saga-steps", "second-look"}


def test_handler_reports_partial_failures_and_steps_are_idempotent():
    _fake, svc, _ = build(bus=False)
    svc.transactions.post(txn(1, "20.00"))
    env = {"version": "0", "id": "x", "detail-type": "TransactionPosted", "source": "cqrs.transactions",
           "account": "1", "time": "2026-11-01T12:00:00Z", "region": "us-east-1", "resources": [],
           "detail": {"TransactionId": "t1"}}
    event = {"Records": [{"messageId": "ok", "body": json.dumps(env)},
                         {"messageId": "bad", "body": "not json"},
                         {"messageId": "unknown", "body": json.dumps({**env, "detail": {"TransactionId": "nope"}})},
                         {"messageId": "again", "body": json.dumps(env)}]}
    out = handlers.second_look(event, None, svc=svc)
    assert out == {"batchItemFailures": [{"itemIdentifier": "bad"}, {"itemIdentifier": "unknown"}]}


def test_orchestration_input_carries_the_same_writes():
    _, svc, _ = build(bus=False)
    svc.cart.create("c", "u")
    svc.cart.add("c", "P1", 2)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    inp = saga_input(Settings(table_prefix="x-"), svc.cart.get("c"), "o1", DECLINED, now)
    assert inp["payment"]["Outcome"] == "DECLINED" and inp["tables"]["Cart"] == "x-Cart"
    assert inp["cart"]["Version"] == "2" and inp["cart"]["VersionAfterBegin"] == "3"
    tx = inp["reserve"]["TransactItems"]
    assert len(tx) == 3 and tx[1]["Put"]["Item"]["TranID"] == {"S": "o1#P1#ORDER"}
    assert tx[0]["Update"]["ConditionExpression"] == "attribute_exists(ProductID) AND Qty >= :n"
    assert inp["order"]["Item"]["SagaMode"] == {"S": "orchestration"}
    assert inp["order"]["Item"]["TotalAmount"] == {"N": "19.98"}
    with pytest.raises(NotFound):
        svc.catalog.require("nope")


def test_load_is_deterministic_for_a_seed():
    from services.load import LoadConfig, run_load

    def once() -> dict:
        r = run_load(Settings(), LoadConfig(orders=40, transactions=60, seed=3, progress=False),
                     client=FakeDynamoDB()).to_dict()
        r.pop("seconds")
        return r
    a, b = once(), once()
    assert a == b
    assert a["confirmed"] + sum(a["cancelled"].values()) == a["orders"] and not a["stuck"] and not a["failures"]
    assert a["cart_races"] > 0 and a["conflicts_retried"] == a["cart_races"]
    assert a["duplicates_absorbed"] == a["duplicates_sent"] > 0
    assert a["stock_consistent"] and not a["negative_stock"]
