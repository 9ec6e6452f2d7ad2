"""The pure search builders: ChangeEvent -> IndexAction, and request -> query body."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ingestion.change_event import decode_lambda_event
from projections.search.documents import BuildError, to_index_action
from projections.search.mappings import SPECS
from search_api.queries import (
    RESOURCES,
    ParamError,
    Principal,
    SearchRequest,
    build_search,
    decode_cursor,
    encode_cursor,
)
from tests.factories import D, kinesis_event, kinesis_record

ORDER = {"OrderId": "o-1", "CustomerId": "c-1", "CartId": "k-1", "Status": "CONFIRMED",
         "Lines": [{"Sku": "SKU-1", "Qty": D(2), "UnitPrice": D("10.005"), "LineAmount": D("20.01")}],
         "TotalAmount": D("99999999999999999999999999999999.99"), "Currency": "USD", "SagaMode": "choreography",
         "CreatedAt": "2026-11-27T06:22:00.123456Z", "UpdatedAt": "2026-11-27T06:22:01.000000Z", "Version": D(3)}


def change(table: str, op: str, new=None, old=None, ttl: bool = False):
    batch = decode_lambda_event(kinesis_event([kinesis_record(table, op, new, old, ttl=ttl)]))
    assert not batch.failures
    return batch.events[0]


def test_order_document_is_exact_and_explicit() -> None:
    a = to_index_action(change("Orders", "INSERT", {**ORDER, "SomethingNew": "ignored"}), prefix="T_")
    assert a is not None and (a.index, a.id, a.version) == ("t_orders", "o-1", 3)
    d = a.document
    assert d["total_amount"] == "99999999999999999999999999999999.99"  # decimal text, never a float
    assert d["lines"] == [{"sku": "SKU-1", "qty": 2, "unit_price": "10.005", "line_amount": "20.01"}]
    assert d["skus"] == ["SKU-1"] and d["deleted"] is False and d["ttl_expired"] is False
    assert "SomethingNew" not in d and "something_new" not in d
    mapping = next(s for s in SPECS if s.resource == "orders").mapping()
    assert set(d) <= set(mapping["properties"])  # every field we write is mapped (strict)


def test_remove_is_a_versioned_tombstone_with_ttl_flag() -> None:
    cart = {"CartId": "k-9", "CustomerId": "c-1", "Status": "ABANDONED", "CheckOut": False,
            "CartItems": {"A": {"Qty": D(2), "UnitPrice": D("1.50")}, "B": {"Qty": D(1), "UnitPrice": D(3)}},
            "ExpiresAt": D(1795760520), "Version": D(4)}
    a = to_index_action(change("Cart", "REMOVE", old=cart, ttl=True))
    assert a is not None and a.version == 5  # removed Version + 1
    assert a.document["deleted"] is True and a.document["ttl_expired"] is True
    assert a.document["item_count"] == 3 and a.document["expires_at"] == "2026-11-27T06:22:00Z"
    user = to_index_action(change("Orders", "REMOVE", old=ORDER))
    assert user is not None and user.document["deleted"] is True and user.document["ttl_expired"] is False


def test_skipped_entities_and_bad_types() -> None:
    mv = {"ProductID": "p-1", "TranID": "m-1", "Action": "ADD", "Qty": D(5), "Reason": "RESTOCK", "Version": D(1)}
    assert to_index_action(change("ProductCatalog", "INSERT", mv)) is None
    pay = {"PaymentId": "pay-1", "OrderId": "o-1", "Amount": D(1), "Version": D(1)}
    assert to_index_action(change("Payments", "INSERT", pay)) is None
    with pytest.raises(BuildError, match="Qty"):
        to_index_action(change("ProductCatalog", "INSERT", {"ProductID": "p-1", "TranID": "0", "Qty": "many",
                                                            "Version": D(1)}))


def test_query_keeps_user_text_in_a_simple_query_string_inside_the_scope() -> None:
    who = Principal("k", "customer", "c-1")
    body = build_search(RESOURCES["orders"], who, SearchRequest(q="*:* OR status:*", min_amount=Decimal("10.00"),
                                                                filters={"status": "CONFIRMED"}))
    b = body["query"]["bool"]
    assert {"term": {"customer_id": "c-1"}} in b["filter"]
    assert b["must"][0]["simple_query_string"]["query"] == "*:* OR status:*"
    assert b["must"][0]["simple_query_string"]["fields"] == ["text"]
    assert "query_string" not in str(body).replace("simple_query_string", "")
    assert body["sort"][-1] == {"id": {"order": "asc"}}
    analyst = build_search(RESOURCES["orders"], Principal("k", "analyst"), SearchRequest())
    assert {"term": {"customer_id": "c-1"}} not in analyst["query"]["bool"]["filter"]


def test_params_are_validated_by_name() -> None:
    res, who = RESOURCES["orders"], Principal("k", "analyst")
    for req, param in [(SearchRequest(size=0), "size"), (SearchRequest(size=101), "size"),
                       (SearchRequest(sort="-secret"), "sort"), (SearchRequest(q="x" * 257), "q"),
                       (SearchRequest(cursor="%%%"), "cursor"), (SearchRequest(filters={"rule": "X"}), "rule"),
                       (SearchRequest(cursor=encode_cursor("total_amount", [1, "a"])), "cursor")]:
        with pytest.raises(ParamError) as e:
            build_search(res, who, req)
        assert e.value.param == param
    assert decode_cursor(encode_cursor("-created_at", [5, "o-1"]), "-created_at") == [5, "o-1"]


# --- the fast builders (documents._FAST) give exactly the checked builders' documents ---------
TXN = {"TransactionId": "t-1", "CustomerId": "c-1", "Merchant": "ACME", "Amount": D("12.30"), "Currency": "USD",
       "Country": "US", "PostedAt": "2026-11-27T06:22:00.5Z", "Version": D(1)}
ODD = [{}, {"Amount": D("1.500")}, {"Amount": D("1E+3")}, {"Amount": D("0.0000001")}, {"Amount": "12.30"},
       {"Amount": True}, {"Amount": None}, {"CustomerId": None}, {"CustomerId": D(7)}, {"Merchant": ""},
       {"Country": ""}, {"TotalAmount": D("-0")}, {"TotalAmount": "x"}, {"Lines": "x"}, {"Lines": ["x"]},
       {"Lines": []}, {"Lines": None}, {"Lines": [{"Sku": "S", "Qty": D("1.5")}]},
       {"Lines": [{"Sku": "S", "Qty": D("2.0"), "UnitPrice": D("1"), "LineAmount": D("2")}]},
       {"Lines": [{"Sku": "", "Qty": None}, {"Sku": D(1)}]}, {"Lines": [{}]}, {"Status": D(3)},
       {"CancelReason": "OUT_OF_STOCK"}, {"SagaMode": None}]


def _doc(ch):
    try:
        a = to_index_action(ch, prefix="p_")
        return (a.index, a.id, a.version, a.document, list(a.document), [list(x) for x in a.document.get("lines", [])])
    except Exception as e:  # noqa: BLE001 - the exception type and message are what is compared
        return (type(e), str(e))


@pytest.mark.parametrize("odd", ODD, ids=[repr(o)[:60] for o in ODD])
@pytest.mark.parametrize("table,base", [("Transactions", TXN), ("Orders", ORDER)], ids=["txn", "order"])
@pytest.mark.parametrize("op", ["INSERT", "REMOVE"])
def test_fast_builders_equal_the_checked_builders(monkeypatch, table, base, odd, op):
    from projections.search import documents

    img = {**base, **odd}  # a None becomes a NULL attribute
    ch = change(table, op, img) if op == "INSERT" else change(table, op, old=img)
    fast = _doc(ch)
    monkeypatch.setattr(documents, "_FAST", {})
    assert fast == _doc(ch)
