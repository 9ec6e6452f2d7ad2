"""Pure core of the warehouse projector: ChangeEvents -> staging rows, per staging table.

No I/O. Money stays `Decimal` (a value with more than two decimals is refused, not rounded), and
money and quantities fit the lake's decimal128(38, s) columns (DECIMAL(38,2) / DECIMAL(38,0)): a value
with more digits is refused per record with its reason instead of failing the whole load;
timestamps become naive UTC datetimes, and a removal becomes a row with its tombstone version and
is_deleted = TRUE carrying the last state (the old image). `build_batch` keeps, per key, only the
highest version (the warehouse's MERGE is version-guarded too, so duplicates, reordering and
retries all end in the state of the highest version).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ingestion.change_event import ChangeEvent


class RowError(ValueError):
    """The change cannot become a warehouse row (terminal: retrying cannot help)."""


@dataclass(frozen=True)
class StageTable:
    name: str  # staging table
    target: str  # the table its MERGE writes
    key: tuple[str, ...]
    columns: tuple[str, ...]


def _t(name: str, target: str, key: tuple[str, ...], columns: str) -> StageTable:
    return StageTable(name, target, key, tuple(columns.split()))


# Column order = redshift_sql/ddl/012_staging.sql (a unit test holds them together).
STAGES: dict[str, StageTable] = {t.name: t for t in (
    _t("stage_dates", "dim_date", ("date_key",), "date_key"),
    _t("stage_customers", "dim_customer", ("customer_id",), "customer_id first_seen_at"),
    _t("stage_products", "product_versions", ("product_id", "version"),
       "product_id version name category price qty last_update is_deleted"),
    _t("stage_orders", "fact_orders", ("order_id",),
       "order_id customer_id cart_id status total_amount currency cancel_reason saga_mode created_at "
       "updated_at version is_deleted"),
    _t("stage_order_lines", "fact_order_lines", ("order_id", "line_no"),
       "order_id line_no sku qty unit_price line_amount created_at version is_deleted"),
    _t("stage_payments", "fact_payments", ("payment_id",),
       "payment_id order_id customer_id amount currency status decline_reason merchant country "
       "created_at updated_at version is_deleted"),
    _t("stage_inventory_movements", "fact_inventory_movements", ("product_id", "movement_id"),
       "product_id movement_id action qty reason order_id moved_at version is_deleted"),
    _t("stage_transactions", "fact_transactions", ("transaction_id",),
       "transaction_id customer_id payment_id merchant amount currency country posted_at version is_deleted"),
    _t("stage_alerts", "fact_alerts", ("alert_id",),
       "alert_id transaction_id customer_id merchant rule reason amount status raised_at version is_deleted"),
    _t("stage_carts", "fact_carts", ("cart_id",),
       "cart_id customer_id status checked_out item_count conflict_count created_at updated_at version "
       "is_deleted"),
)}

# The order the merges run in, inside one transaction; each names redshift_sql/merge/<name>.sql.
# dim_product is rebuilt from product_versions, so it follows it.
MERGES: tuple[str, ...] = ("dim_date", "dim_customer", "product_versions", "dim_product", "fact_orders",
                           "fact_order_lines", "fact_payments", "fact_inventory_movements",
                           "fact_transactions", "fact_alerts", "fact_carts")


# --- value conversion ------------------------------------------------------------------------
# The warehouse's money and quantity columns: DECIMAL(38,2) and DECIMAL(38,0), as the lake's
# decimal128(38, s) (projections/lake/schema.py), so every number DynamoDB holds fits exactly.
PRECISION = 38
MONEY_SCALE = 2


def _fits(v: Decimal, scale: int, attr: str) -> None:
    if not v.is_finite():
        raise RowError(f"{attr} is not a finite number: {v}")
    digits = len(str(abs(int(v)))) if v.adjusted() >= 0 else 0
    if digits > PRECISION - scale:
        raise RowError(f"{attr} has {digits} integer digits ({v}); the warehouse column DECIMAL({PRECISION},"
                       f"{scale}) holds at most {PRECISION - scale}")


def ts(v: Any, attr: str) -> datetime | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise RowError(f"{attr} is not an ISO-8601 string: {v!r}")
    try:
        d = datetime.fromisoformat(v)
    except ValueError:
        raise RowError(f"{attr} is not an ISO-8601 timestamp: {v!r}") from None
    if d.tzinfo is not None:
        d = d.astimezone(UTC).replace(tzinfo=None)
    return d


def money(v: Any, attr: str) -> Decimal | None:
    if v is None:
        return None
    if not isinstance(v, Decimal):
        raise RowError(f"{attr} is not a number: {v!r}")
    if not v.is_finite():
        raise RowError(f"{attr} is not a finite number: {v}")
    if v.as_tuple().exponent < -2 and v != v.quantize(Decimal("0.01")):  # type: ignore[operator]
        raise RowError(f"{attr} has more than two decimals ({v}); money is never rounded silently")
    _fits(v, MONEY_SCALE, attr)
    return v


def integer(v: Any, attr: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, Decimal)) or (isinstance(v, Decimal) and not v.is_finite()) \
            or v != int(v):
        raise RowError(f"{attr} is not an integer: {v!r}")
    _fits(Decimal(v), 0, attr)
    return int(v)


def text(v: Any, attr: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, (str, Decimal, int)):
        return str(v)
    raise RowError(f"{attr} is not a string: {v!r}")


# --- per entity ------------------------------------------------------------------------------
Rows = dict[str, list[tuple[Any, ...]]]


def rows_for(ch: ChangeEvent) -> Rows:
    """One change -> its staging rows (a row per table it touches). Raises RowError."""
    fast = _FAST.get(ch.entity)
    if fast is not None:
        got = fast(ch)
        if got is not None:
            return got
    img = ch.image
    deleted = ch.is_delete
    out: Rows = {}

    def add(table: str, *row: Any) -> None:
        out.setdefault(table, []).append(row)

    def customer(cid: Any, when: datetime | None) -> None:
        if cid is not None and when is not None:
            add("stage_customers", text(cid, "CustomerId"), when)

    def day(when: datetime | None) -> None:
        if when is not None:
            add("stage_dates", when.date())

    g = img.get
    if ch.entity == "order":
        created = ts(g("CreatedAt"), "CreatedAt")
        add("stage_orders", text(ch.key["OrderId"], "OrderId"), text(g("CustomerId"), "CustomerId"),
            text(g("CartId"), "CartId"), text(g("Status"), "Status"), money(g("TotalAmount"), "TotalAmount"),
            text(g("Currency"), "Currency"), text(g("CancelReason"), "CancelReason"),
            text(g("SagaMode"), "SagaMode"), created, ts(g("UpdatedAt"), "UpdatedAt"), ch.version, deleted)
        lines = g("Lines") or []
        if not isinstance(lines, list):
            raise RowError("Lines is not a list")
        for n, line in enumerate(lines, start=1):
            if not isinstance(line, dict):
                raise RowError(f"Lines[{n - 1}] is not a map")
            add("stage_order_lines", text(ch.key["OrderId"], "OrderId"), n, text(line.get("Sku"), "Sku"),
                integer(line.get("Qty"), "Qty"), money(line.get("UnitPrice"), "UnitPrice"),
                money(line.get("LineAmount"), "LineAmount"), created, ch.version, deleted)
        customer(g("CustomerId"), created)
        day(created)
    elif ch.entity == "payment":
        created = ts(g("CreatedAt"), "CreatedAt")
        add("stage_payments", text(ch.key["PaymentId"], "PaymentId"), text(g("OrderId"), "OrderId"),
            text(g("CustomerId"), "CustomerId"), money(g("Amount"), "Amount"), text(g("Currency"), "Currency"),
            text(g("Status"), "Status"), text(g("DeclineReason"), "DeclineReason"),
            text(g("Merchant"), "Merchant"), text(g("Country"), "Country"), created,
            ts(g("UpdatedAt"), "UpdatedAt"), ch.version, deleted)
        customer(g("CustomerId"), created)
        day(created)
    elif ch.entity == "transaction":
        posted = ts(g("PostedAt"), "PostedAt")
        add("stage_transactions", text(ch.key["TransactionId"], "TransactionId"),
            text(g("CustomerId"), "CustomerId"), text(g("PaymentId"), "PaymentId"), text(g("Merchant"), "Merchant"),
            money(g("Amount"), "Amount"), text(g("Currency"), "Currency"), text(g("Country"), "Country"),
            posted, ch.version, deleted)
        customer(g("CustomerId"), posted)
        day(posted)
    elif ch.entity == "alert":
        raised = ts(g("RaisedAt"), "RaisedAt")
        add("stage_alerts", text(ch.key["AlertId"], "AlertId"), text(g("TransactionId"), "TransactionId"),
            text(g("CustomerId"), "CustomerId"), text(g("Merchant"), "Merchant"), text(g("Rule"), "Rule"),
            text(g("Reason"), "Reason"), money(g("Amount"), "Amount"), text(g("Status"), "Status"), raised,
            ch.version, deleted)
        customer(g("CustomerId"), raised)
        day(raised)
    elif ch.entity == "cart":
        created = ts(g("CreatedAt"), "CreatedAt")
        items = g("CartItems") or {}
        if not isinstance(items, dict):
            raise RowError("CartItems is not a map")
        add("stage_carts", text(ch.key["CartId"], "CartId"), text(g("CustomerId"), "CustomerId"),
            text(g("Status"), "Status"), bool(g("CheckOut", False)),
            integer(sum(integer(it.get("Qty") if isinstance(it, dict) else None, f"CartItems.{k}.Qty") or 0
                        for k, it in items.items()), "ItemCount"),  # the sum of the items' Qty (DOMAIN.md)
            integer(g("ConflictCount", Decimal(0)), "ConflictCount"), created, ts(g("UpdatedAt"), "UpdatedAt"),
            ch.version, deleted)
        customer(g("CustomerId"), created)
        day(created)
    elif ch.entity == "product":
        updated = ts(g("LastUpdate"), "LastUpdate")
        add("stage_products", text(ch.key["ProductID"], "ProductID"), ch.version, text(g("Name"), "Name"),
            text(g("Category"), "Category"), money(g("Price"), "Price"), integer(g("Qty"), "Qty"), updated,
            deleted)
    elif ch.entity == "inventory_movement":
        moved = ts(g("DateTime"), "DateTime")
        add("stage_inventory_movements", text(ch.key["ProductID"], "ProductID"), text(ch.key["TranID"], "TranID"),
            text(g("Action"), "Action"), integer(g("Qty"), "Qty"), text(g("Reason"), "Reason"),
            text(g("OrderId"), "OrderId"), moved, ch.version, deleted)
        day(moved)
    else:
        raise RowError(f"no warehouse table for entity {ch.entity!r}")
    return out


# --- fast paths for the hot entities (profiled: the per-value checks were ~70% of build_batch) -
# The same rows as `rows_for`'s checked code for well-typed images, without a call per value. Any
# value that is not plainly valid returns None and the image takes the checked path, which either
# accepts it (a Decimal money value 1.500, a str subclass...) or raises the RowError naming it.
_STR_OR_NONE = frozenset({str, type(None)})
_MAX_ADJUSTED = {0: PRECISION - 1, 2: PRECISION - MONEY_SCALE - 1}  # integer digits <= precision - scale


def _money_ok(v: Any) -> bool:
    return v is None or (type(v) is Decimal and v.is_finite() and v.as_tuple().exponent >= -MONEY_SCALE  # type: ignore[operator]
                         and v.adjusted() <= _MAX_ADJUSTED[MONEY_SCALE])


def _ts_fast(v: Any) -> datetime | None | bool:
    """A naive UTC datetime, None, or False when the checked path must decide."""
    if v is None:
        return None
    if type(v) is not str:
        return False
    try:
        d = datetime.fromisoformat(v)
    except ValueError:
        return False
    tz = d.tzinfo
    if tz is None:
        return d
    return d.replace(tzinfo=None) if tz is UTC else d.astimezone(UTC).replace(tzinfo=None)


def _transaction_fast(ch: ChangeEvent) -> Rows | None:
    g = ch.image.get
    tid, cid, pid, mer, amt = ch.key["TransactionId"], g("CustomerId"), g("PaymentId"), g("Merchant"), g("Amount")
    cur, cty = g("Currency"), g("Country")
    if not ({type(tid), type(cid), type(pid), type(mer), type(cur), type(cty)} <= _STR_OR_NONE and _money_ok(amt)):
        return None
    posted = _ts_fast(g("PostedAt"))
    if posted is False:
        return None
    out: Rows = {"stage_transactions": [(tid, cid, pid, mer, amt, cur, cty, posted, ch.version, ch.is_delete)]}
    if posted is not None:
        if cid is not None:
            out["stage_customers"] = [(cid, posted)]
        out["stage_dates"] = [(posted.date(),)]  # type: ignore[union-attr]
    return out


def _order_fast(ch: ChangeEvent) -> Rows | None:
    g = ch.image.get
    oid, cid, cart, status, total = ch.key["OrderId"], g("CustomerId"), g("CartId"), g("Status"), g("TotalAmount")
    cur, reason, saga = g("Currency"), g("CancelReason"), g("SagaMode")
    lines = g("Lines") or []
    if not ({type(oid), type(cid), type(cart), type(status), type(cur), type(reason), type(saga)} <= _STR_OR_NONE
            and _money_ok(total) and type(lines) is list):
        return None
    created, updated = _ts_fast(g("CreatedAt")), _ts_fast(g("UpdatedAt"))
    if created is False or updated is False:
        return None
    version, deleted = ch.version, ch.is_delete
    line_rows = []
    for n, line in enumerate(lines, start=1):
        if type(line) is not dict:
            return None
        sku, qty, price, amount = line.get("Sku"), line.get("Qty"), line.get("UnitPrice"), line.get("LineAmount")
        if not (type(sku) in _STR_OR_NONE and _money_ok(price) and _money_ok(amount)):
            return None
        if qty is not None:
            if not (type(qty) is Decimal and qty.is_finite() and qty.adjusted() <= _MAX_ADJUSTED[0]):
                return None
            q = int(qty)
            if q != qty:
                return None
            qty = q
        line_rows.append((oid, n, sku, qty, price, amount, created, version, deleted))
    out: Rows = {"stage_orders": [(oid, cid, cart, status, total, cur, reason, saga, created, updated, version,
                                   deleted)]}
    if line_rows:
        out["stage_order_lines"] = line_rows
    if created is not None:
        if cid is not None:
            out["stage_customers"] = [(cid, created)]
        out["stage_dates"] = [(created.date(),)]  # type: ignore[union-attr]
    return out


_FAST = {"transaction": _transaction_fast, "order": _order_fast}
_KEY_POS: dict[str, tuple[int, ...]] = {t.name: tuple(t.columns.index(k) for k in t.key) for t in STAGES.values()}


# --- a batch ---------------------------------------------------------------------------------
@dataclass
class Batch:
    """Staging rows of a micro-batch, deduplicated per key to the highest version."""

    rows: Rows = field(default_factory=dict)
    failures: list[tuple[ChangeEvent, str]] = field(default_factory=list)
    # Staging rows already columnar (warehouse/columnar.py: pyarrow Tables with STAGES' columns);
    # a table is either here or in `rows`, never both.
    arrow: dict[str, Any] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values()) + sum(t.num_rows for t in self.arrow.values())


def build_batch(events: Iterable[ChangeEvent]) -> Batch:
    best: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    failures: list[tuple[ChangeEvent, str]] = []
    for ch in events:
        try:
            produced = rows_for(ch)
        except (RowError, KeyError) as e:
            failures.append((ch, f"{ch.key_string} v{ch.version}: {e}"))
            continue
        for table, rows in produced.items():
            keep = best.get(table)
            if keep is None:
                keep = best[table] = {}
            idx = _KEY_POS[table]
            for row in rows:
                k = row[idx[0]] if len(idx) == 1 else tuple(row[i] for i in idx)
                old = keep.get(k)
                keep[k] = row if old is None else _pick(table, STAGES[table], old, row)
    return Batch({t: list(v.values()) for t, v in best.items()}, failures)


def _pick(table: str, spec: StageTable, old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[Any, ...]:
    if table == "stage_customers":  # the earliest sighting wins
        return old if old[1] <= new[1] else new
    if "version" not in spec.columns:
        return old
    v = spec.columns.index("version")
    return new if new[v] >= old[v] else old


def days(batch: Batch) -> set[date]:
    return {r[0] for r in batch.rows.get("stage_dates", [])}
