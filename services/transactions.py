"""Card transactions and the Second Look rules.

The rules are pure functions of the transaction and the customer's earlier transactions (by
PostedAt, so the answer does not depend on when the step runs). Alerts have an id derived from the
transaction id and the rule, written only if absent: a re-run raises nothing twice.
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from services.common import iso, money, parse_iso, text, utcnow
from services.errors import ValidationError
from services.store import Store, is_conditional_failure

TABLE = "Transactions"
ALERTS = "Alerts"
RULES = ("DUPLICATE_CHARGE", "AMOUNT_SPIKE", "FIRST_LARGE_AT_MERCHANT", "FOREIGN_COUNTRY")
DUPLICATE_WINDOW = timedelta(minutes=5)
SPIKE_FACTOR = Decimal(5)
SPIKE_HISTORY = 20  # the last N transactions make the customer's usual amount
SPIKE_MIN_HISTORY = 5
LARGE_AMOUNT = Decimal("500.00")
HOME_MIN_HISTORY = 3
# The rules look at the customer's most recent transactions only (one bounded query per screening).
HISTORY_LIMIT = 100


def transaction(transaction_id: Any, customer_id: Any, merchant: Any, amount: Any, country: Any,
                posted_at: datetime, payment_id: str | None = None, currency: str = "USD") -> dict[str, Any]:
    """A validated Transactions item (pure)."""
    text(transaction_id, "transaction id")
    text(customer_id, "customer id")
    text(merchant, "merchant")
    if not (isinstance(country, str) and len(country) == 2 and country.isalpha() and country.isupper()):
        raise ValidationError(f"country must be an ISO 3166 alpha-2 code, got {country!r}")
    item: dict[str, Any] = {"TransactionId": transaction_id, "CustomerId": customer_id, "Merchant": merchant,
                            "Amount": money(amount), "Currency": currency, "Country": country,
                            "PostedAt": iso(posted_at), "Version": 1}
    if payment_id:
        item["PaymentId"] = payment_id
    return item


# --- Second Look rules (pure) ---------------------------------------------------------------------
def home_country(history: list[dict[str, Any]]) -> str | None:
    """The customer's most frequent country (earliest first on ties); unknown with little history."""
    if len(history) < HOME_MIN_HISTORY:
        return None
    counts = Counter(t["Country"] for t in history)
    best = max(counts.values())
    return next(t["Country"] for t in history if counts[t["Country"]] == best)


def second_look(txn: dict[str, Any], history: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(rule, reason) for every rule the transaction trips, given the customer's earlier ones."""
    at = parse_iso(txn["PostedAt"])
    earlier = sorted((h for h in history if h["TransactionId"] != txn["TransactionId"]
                      and h["CustomerId"] == txn["CustomerId"] and parse_iso(h["PostedAt"]) <= at),
                     key=lambda h: (h["PostedAt"], h["TransactionId"]))
    amount = Decimal(txn["Amount"])
    out: list[tuple[str, str]] = []
    dup = [h for h in earlier if h["Merchant"] == txn["Merchant"] and Decimal(h["Amount"]) == amount
           and at - parse_iso(h["PostedAt"]) <= DUPLICATE_WINDOW]
    if dup:
        out.append(("DUPLICATE_CHARGE", (f"same amount {amount} at {txn['Merchant']} as {dup[-1]['TransactionId']} "
                                         f"within {int(DUPLICATE_WINDOW.total_seconds() // 60)} minutes")))
    recent = [Decimal(h["Amount"]) for h in earlier[-SPIKE_HISTORY:]]
    if len(recent) >= SPIKE_MIN_HISTORY:
        median = Decimal(statistics.median(recent))
        if amount > SPIKE_FACTOR * median:
            out.append(("AMOUNT_SPIKE", (f"{amount} is more than {SPIKE_FACTOR}x the median {median} "
                                         f"of the last {len(recent)}")))
    if amount >= LARGE_AMOUNT and not any(h["Merchant"] == txn["Merchant"] for h in earlier):
        out.append(("FIRST_LARGE_AT_MERCHANT", f"first transaction at {txn['Merchant']} is {amount}"))
    home = home_country(earlier)
    if home and txn["Country"] != home:
        out.append(("FOREIGN_COUNTRY", f"country {txn['Country']} differs from home country {home}"))
    return out


def alert_id(transaction_id: str, rule: str) -> str:
    return f"{transaction_id}#{rule}"


class TransactionsService:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow):
        self.store, self.clock = store, clock

    def get(self, tid: str) -> dict[str, Any] | None:
        return self.store.get(TABLE, {"TransactionId": tid})

    def post(self, item: dict[str, Any]) -> bool:
        """Post once; False if this transaction id was posted before (a duplicate delivery)."""
        try:
            self.store.put(TABLE, item, "attribute_not_exists(TransactionId)")
            return True
        except ClientError as e:
            if is_conditional_failure(e):
                return False
            raise

    def post_for_payment(self, payment: dict[str, Any]) -> bool:
        return self.post(transaction(f"txn-{payment['PaymentId']}", payment["CustomerId"], payment["Merchant"],
                                     payment["Amount"], payment["Country"], parse_iso(payment["CreatedAt"]),
                                     payment_id=payment["PaymentId"], currency=payment["Currency"]))

    def history(self, customer_id: str, until: str) -> list[dict[str, Any]]:
        return self.store.query(TABLE, "ByCustomer", "CustomerId = :c AND PostedAt <= :t",
                                {":c": customer_id, ":t": until}, limit=HISTORY_LIMIT, newest_first=True)

    def screen(self, transaction_id: str, customer_id: str | None = None, posted_at: str | None = None) -> int:
        """Run the Second Look rules on a posted transaction; returns alerts newly raised. Given the
        customer and time (from the event), one query reads the transaction and its history."""
        txn, history = None, None
        if customer_id and posted_at:
            history = self.history(customer_id, posted_at)
            txn = next((h for h in history if h["TransactionId"] == transaction_id), None)
        if txn is None:
            txn = self.get(transaction_id)
            if txn is None:
                raise ValidationError(f"unknown transaction {transaction_id!r}")
            history = self.history(txn["CustomerId"], txn["PostedAt"])
        assert history is not None
        raised = 0
        for rule, reason in second_look(txn, history):
            item = {"AlertId": alert_id(transaction_id, rule), "TransactionId": transaction_id,
                    "CustomerId": txn["CustomerId"], "Merchant": txn["Merchant"], "Rule": rule, "Reason": reason,
                    "Amount": txn["Amount"], "Status": "OPEN", "RaisedAt": iso(self.clock()), "Version": 1}
            try:
                self.store.put(ALERTS, item, "attribute_not_exists(AlertId)")
                raised += 1
            except ClientError as e:
                if not is_conditional_failure(e):
                    raise
        return raised
