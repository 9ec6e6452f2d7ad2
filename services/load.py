"""The load generator: carts, checkouts (with the saga in one of three modes) and card transactions,
deterministic for a seed.

What it does on purpose: Zipf-skewed customers and products; carts edited by two threads at once
(a barrier makes both read the same Version, so exactly one write wins and the other retries);
abandoned carts, some deleted (moto never expires TTL items: the deletion stands in for a TTL
expiry, and is a user delete in the stream); out-of-stock and declined/slow cards (rollbacks);
duplicated commands and duplicated event deliveries (absorbed); price changes and restocks;
standalone card transactions with duplicate charges, amount spikes, large first purchases and
foreign countries (the Second Look's work).

Ids carry a run tag (`s<seed>`, or `s<seed>-<n>` when the stack already holds that run), so a rerun
of the same seed on a fresh stack makes the same commands and ends in the same states.
"""
from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cqrs.settings import Settings
from services.bus import InlineBus
from services.cart import CartService
from services.catalog import movement
from services.common import Retry
from services.errors import ConflictError, InvalidState, ServiceError
from services.payments import DECLINED_CARDS, SLOW_CARD
from services.steps import Services
from services.store import Store
from services.transactions import transaction

MODES = ("inline", "choreography", "orchestration")
GOOD_CARD = "4242424242424242"
CATEGORIES = ("Kitchen", "Garden", "Books", "Toys", "Sports", "Office")
NOUNS = ("Mug", "Kettle", "Trowel", "Novel", "Puzzle", "Racket", "Stapler", "Lamp", "Hose", "Atlas", "Kite",
         "Bottle")
ADJS = ("Blue", "Large", "Compact", "Classic", "Smart", "Vintage", "Eco", "Pro")
MERCHANTS = tuple(f"merchant-{i:02d}" for i in range(30))
COUNTRIES = ("US", "GB", "DE", "FR", "CA")


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1 / (k ** s) for k in range(1, n + 1)]


@dataclass
class LoadConfig:
    orders: int = 300
    transactions: int | None = None  # default: 3 per order
    rate: float = 0.0  # commands per second; 0 = as fast as possible
    seed: int = 7
    saga: str = "inline"
    timeout: float = 120.0  # waiting for sagas to end (choreography, orchestration)
    products: int = 40
    customers: int = 120
    progress: bool = True


@dataclass
class LoadReport:
    mode: str
    run: str
    orders: int = 0
    confirmed: int = 0
    cancelled: dict[str, int] = field(default_factory=dict)
    not_started: dict[str, int] = field(default_factory=dict)
    stuck: list[str] = field(default_factory=list)
    cart_races: int = 0
    conflicts_retried: int = 0
    duplicates_sent: int = 0
    duplicates_absorbed: int = 0
    carts_abandoned: int = 0
    carts_deleted: int = 0
    price_changes: int = 0
    restocks: int = 0
    transactions: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    stock_consistent: bool = True
    negative_stock: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        c = ", ".join(f"{k} {v}" for k, v in sorted(self.cancelled.items())) or "none"
        a = ", ".join(f"{k} {v}" for k, v in sorted(self.alerts.items())) or "none"
        lines = [
            f"load ({self.mode}, run {self.run}) in {self.seconds:.1f}s",
            f"  orders: {self.orders} checked out: {self.confirmed} confirmed; cancelled: {c}",
            (f"  carts: {self.cart_races} two-writer races, {self.conflicts_retried} conflicts retried; "
             f"{self.carts_abandoned} abandoned, {self.carts_deleted} deleted (TTL stand-in)"),
            f"  duplicates: {self.duplicates_sent} delivered twice, {self.duplicates_absorbed} absorbed",
            (f"  catalog: {self.price_changes} price changes, {self.restocks} restocks; stock = sum of movements: "
             f"{'yes' if self.stock_consistent else 'NO'}; negative stock: {self.negative_stock or 'none'}"),
            f"  card transactions: {self.transactions}; alerts: {a}",
        ]
        if self.not_started:
            lines.append(f"  checkouts not started: {self.not_started}")
        if self.stuck:
            lines.append(f"  STUCK sagas ({len(self.stuck)}): {', '.join(self.stuck[:20])}"
                         + (" ..." if len(self.stuck) > 20 else ""))
        if self.failures:
            lines.append(f"  FAILURES ({len(self.failures)}): " + "; ".join(self.failures[:5]))
        return "\n".join(lines)


@dataclass
class OrderPlan:
    n: int
    customer: str
    lines: list[tuple[int, int]]  # (product index, qty)
    card: str
    race: bool
    abandon: bool
    delete: bool
    duplicate: bool


def plan_orders(cfg: LoadConfig, rng: random.Random) -> list[OrderPlan]:
    """What each cart will do (pure given the rng): deterministic for a seed."""
    cw, pw = zipf_weights(cfg.customers), zipf_weights(cfg.products)
    out = []
    for n in range(cfg.orders):
        k = rng.choice((1, 1, 2, 2, 3, 4))
        prods = list(dict.fromkeys(rng.choices(range(cfg.products), pw, k=k)))
        lines = [(p, rng.randint(1, 3)) for p in prods]
        r = rng.random()
        card = (list(DECLINED_CARDS)[n % 2] if r < 0.08 else SLOW_CARD if r < 0.12 else GOOD_CARD)
        abandon = rng.random() < 0.08
        out.append(OrderPlan(n, f"cust-{rng.choices(range(cfg.customers), cw)[0]:04d}", lines, card,
                             race=rng.random() < 0.25, abandon=abandon, delete=abandon and rng.random() < 0.5,
                             duplicate=rng.random() < 0.10))
    return out


def saga_settled(order: dict[str, Any] | None, cart: dict[str, Any] | None,
                 payment: dict[str, Any] | None) -> bool:
    """A saga is over when the order is terminal and every compensation it needs has run (pure)."""
    if order is None or order["Status"] not in ("CONFIRMED", "CANCELLED"):
        return False
    if cart is not None and cart.get("CheckOut") and cart.get("OrderId") == order["OrderId"]:
        return False
    if order["Status"] == "CANCELLED":
        if order.get("Reservation") == "RESERVED":
            return False
        if payment is not None and payment["Status"] == "CAPTURED":
            return False
    return True


class Load:
    def __init__(self, settings: Settings, cfg: LoadConfig, client: Any = None, sfn: Any = None):
        if cfg.saga not in MODES:
            raise ValueError(f"saga mode must be one of {MODES}, got {cfg.saga!r}")
        self.settings, self.cfg = settings, cfg
        self.rng = random.Random(cfg.seed)
        self.client = client or settings.boto3_client("dynamodb")
        self.sfn = sfn
        self.store = Store(self.client, settings)
        self.svc = Services.build(self.store, retry=Retry(rng=random.Random(cfg.seed + 1)))
        self.bus: InlineBus | None = None
        if cfg.saga == "inline":
            self.bus = InlineBus(duplicate_rate=0.05, seed=cfg.seed).attach(self.svc)
        self.report = LoadReport(cfg.saga, "")
        self._lock = threading.Lock()
        self._last = 0.0

    # --- pacing & progress ------------------------------------------------------------------
    def _pace(self) -> None:
        if self.cfg.rate > 0:
            wait = self._last + 1 / self.cfg.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()

    def _bar(self, total: int, desc: str) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=sys.stderr, disable=not self.cfg.progress, leave=False,
                    unit="op")

    def _tag(self) -> str:
        base, n = f"s{self.cfg.seed}", 0
        tag = base
        while self.svc.catalog.product(f"{tag}-P000") is not None:
            n += 1
            tag = f"{base}-{n}"
        return tag

    # --- phases -------------------------------------------------------------------------------
    def run(self) -> LoadReport:
        t0 = time.monotonic()
        tag = self.report.run = self._tag()
        plans = plan_orders(self.cfg, self.rng)
        products = self._catalog(tag)
        # Prices are settled before the carts fill: look them up once, not per cart line.
        prices = {pid: self.svc.catalog.require(pid)["Price"] for pid in products}
        self.svc.cart.price_of = lambda sku: prices[sku] if sku in prices else self.svc.catalog.require(sku)["Price"]
        n_txn = self.cfg.transactions if self.cfg.transactions is not None else 3 * self.cfg.orders
        started: list[tuple[str, str]] = []  # (order id, cart id)
        orch = None
        if self.cfg.saga == "orchestration":
            from services.orchestration import Orchestrator

            orch = Orchestrator(self.settings, self.store, self.sfn or self.settings.boto3_client("stepfunctions"))
        with self._bar(len(plans), "carts & checkouts") as bar:
            for p in plans:
                self._pace()
                try:
                    started += self._order(tag, p, products, orch)
                except ServiceError as e:
                    self.report.failures.append(f"order {p.n}: {type(e).__name__}: {e}")
                bar.update(1)
        self._transactions(tag, n_txn)
        self._wait(started, orch)
        self._check_stock(products)
        self._count_alerts(tag)
        if self.bus is not None:
            self.report.duplicates_sent += self.bus.stats.duplicates
            self.report.duplicates_absorbed += self.bus.stats.duplicates_absorbed
            self.report.failures += [f"{env['detail-type']}: {why}" for env, why in self.bus.failed]
        self.report.seconds = time.monotonic() - t0
        return self.report

    def _catalog(self, tag: str) -> list[str]:
        ids = []
        for i in range(self.cfg.products):
            pid = f"{tag}-P{i:03d}"
            name = f"{ADJS[i % len(ADJS)]} {NOUNS[i % len(NOUNS)]}"
            price = Decimal(self.rng.randint(199, 9999)) / 100
            # Popular products get little stock relative to demand: real out-of-stock rollbacks.
            self.svc.catalog.create_product(pid, name, CATEGORIES[i % len(CATEGORIES)], price,
                                            self.rng.randint(30, 120))
            ids.append(pid)
        for i in range(0, self.cfg.products, 7):  # a few price changes: the warehouse keeps the history
            self.svc.catalog.change_price(ids[i], (Decimal(self.rng.randint(199, 9999)) / 100))
            self.report.price_changes += 1
        return ids

    def _race(self, cart_id: str, skus: list[str]) -> int:
        """Two writers edit one cart at once; both read the same Version before either writes."""
        barrier = threading.Barrier(2, timeout=30)
        conflicts = [0, 0]

        def writer(i: int, sku: str) -> None:
            first = [True]

            def hold() -> None:
                if first[0]:
                    first[0] = False
                    try:
                        barrier.wait()
                    except threading.BrokenBarrierError:
                        pass
            cart = CartService(self.store, self.svc.cart.price_of, retry=Retry(rng=random.Random(i)),
                               before_write=hold)
            conflicts[i] = cart.add(cart_id, sku, 1).conflicts
        threads = [threading.Thread(target=writer, args=(i, s)) for i, s in enumerate(skus[:2])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(conflicts)

    def _order(self, tag: str, p: OrderPlan, products: list[str], orch: Any) -> list[tuple[str, str]]:
        cart_id, order_id = f"{tag}-c{p.n:05d}", f"{tag}-o{p.n:05d}"
        self.svc.cart.create(cart_id, p.customer)
        for idx, qty in p.lines:
            self.svc.cart.add(cart_id, products[idx], qty)
        if p.race:
            extra = [products[(p.n * 7 + k) % len(products)] for k in (1, 2)]
            self.report.cart_races += 1
            self.report.conflicts_retried += self._race(cart_id, extra)
        if p.abandon:
            self.svc.cart.abandon(cart_id)
            self.report.carts_abandoned += 1
            if p.delete:
                self.svc.cart.delete(cart_id)
                self.report.carts_deleted += 1
            return []
        if p.n % 10 == 0:  # a restock, delivered twice: the movement id makes the second a no-op
            m = movement(products[0], f"{tag}-restock-{p.n}", "ADD", 20, "RESTOCK")
            self.svc.catalog.move(m)
            self.report.restocks += 1
            self.report.duplicates_sent += 1
            self.report.duplicates_absorbed += 0 if self.svc.catalog.move(m) else 1
        self.report.orders += 1
        for attempt in range(2 if p.duplicate else 1):
            try:
                if orch is not None:
                    applied = orch.start(cart_id, order_id, p.card)
                else:
                    mode = "choreography"  # inline is the choreographed saga, run in-process
                    applied = self.svc.cart.begin_checkout(cart_id, order_id, p.card, mode).applied
            except (InvalidState, ConflictError) as e:
                if attempt == 0:
                    self.report.not_started[type(e).__name__] = self.report.not_started.get(type(e).__name__, 0) + 1
                    return []
                applied = False  # the duplicate found the saga already moving: absorbed
            if attempt == 1:
                self.report.duplicates_sent += 1
                self.report.duplicates_absorbed += 0 if applied else 1
        return [(order_id, cart_id)]

    def _transactions(self, tag: str, n: int) -> None:
        """Standalone card volume. Inline, the Second Look runs as each posts; otherwise it runs from
        the stream (event pipe -> EventBridge -> SQS -> runner), and the alerts counted at the end
        are those raised by then."""
        cw, mw = zipf_weights(self.cfg.customers), zipf_weights(len(MERCHANTS))
        home = {c: ("US" if c % 5 else "GB") for c in range(self.cfg.customers)}
        base = {c: Decimal(self.rng.randint(800, 9000)) / 100 for c in range(self.cfg.customers)}
        clock = datetime.now(UTC) - timedelta(days=1)
        last: dict[int, dict[str, Any]] = {}
        with self._bar(n, "card transactions") as bar:
            for i in range(n):
                self._pace()
                c = self.rng.choices(range(self.cfg.customers), cw)[0]
                clock += timedelta(seconds=self.rng.randint(5, 90))
                r = self.rng.random()
                merchant = self.rng.choices(MERCHANTS, mw)[0]
                amount = (base[c] * Decimal(self.rng.randint(50, 150)) / 100).quantize(Decimal("0.01"))
                country = home[c]
                if r < 0.03 and c in last:  # the same charge again, a minute later
                    merchant, amount = last[c]["Merchant"], last[c]["Amount"]
                elif r < 0.05:
                    amount = (base[c] * 12).quantize(Decimal("0.01"))  # a spike
                elif r < 0.07:
                    merchant, amount = f"luxury-{self.rng.randint(1, 99)}", Decimal("750.00")
                elif r < 0.10:
                    country = self.rng.choice([x for x in COUNTRIES if x != home[c]])
                txn = transaction(f"{tag}-t{i:06d}", f"cust-{c:04d}", merchant, amount, country, clock)
                self.svc.transactions.post(txn)
                self.report.transactions += 1
                last[c] = txn
                if r > 0.97:  # the same posting delivered twice: absorbed by its id
                    self.report.duplicates_sent += 1
                    self.report.duplicates_absorbed += 0 if self.svc.transactions.post(txn) else 1
                bar.update(1)

    def _wait(self, started: list[tuple[str, str]], orch: Any) -> None:
        if orch is not None and started:
            with self._bar(len(started), "sagas (Step Functions)") as bar:
                res = orch.wait([o for o, _ in started], timeout=self.cfg.timeout, progress=bar.update)
            for oid, d in res.items():
                if d["status"] == "FAILED":
                    self.report.not_started[d.get("error", "FAILED")] = \
                        self.report.not_started.get(d.get("error", "FAILED"), 0) + 1
        deadline = time.monotonic() + (self.cfg.timeout if self.cfg.saga != "inline" else 0)
        pending = list(started)
        with self._bar(len(pending), "sagas settled") as bar:
            while True:
                # One scan per table and round, not three reads per saga.
                tag = self.report.run + "-"
                orders = {o["OrderId"]: o for o in self.store.scan("Orders") if o["OrderId"].startswith(tag)}
                carts = {c["CartId"]: c for c in self.store.scan("Cart") if c["CartId"].startswith(tag)}
                pays = {p["OrderId"]: p for p in self.store.scan("Payments") if p["OrderId"].startswith(tag)}
                still = []
                for oid, cid in pending:
                    order = orders.get(oid)
                    if saga_settled(order, carts.get(cid), pays.get(oid)):
                        assert order is not None
                        if order["Status"] == "CONFIRMED":
                            self.report.confirmed += 1
                        else:
                            why = order.get("CancelReason", "?")
                            self.report.cancelled[why] = self.report.cancelled.get(why, 0) + 1
                        bar.update(1)
                    elif order is None and orch is not None and self._execution_failed(orch, oid):
                        bar.update(1)  # the execution failed before creating the order (counted above)
                    else:
                        still.append((oid, cid))
                pending = still
                if not pending or time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
        self.report.stuck = [oid for oid, _ in pending]

    def _execution_failed(self, orch: Any, oid: str) -> bool:
        return orch.sfn.describe_execution(executionArn=orch.execution_arn(oid))["status"] == "FAILED"

    def _check_stock(self, products: list[str]) -> None:
        """Stock never negative, and Qty = the sum of the product's movements (one scan)."""
        wanted = set(products)
        qty: dict[str, Decimal] = {}
        moved: dict[str, Decimal] = {pid: Decimal(0) for pid in products}
        for item in self.store.scan("ProductCatalog"):
            pid = item["ProductID"]
            if pid not in wanted:
                continue
            if item["TranID"] == "0":
                qty[pid] = item["Qty"]
            else:
                moved[pid] += item["Qty"] if item["Action"] == "ADD" else -item["Qty"]
        self.report.negative_stock = sorted(pid for pid, q in qty.items() if q < 0)
        self.report.stock_consistent = all(qty.get(pid) == moved[pid] for pid in products)

    def _count_alerts(self, tag: str) -> None:
        counts: Counter[str] = Counter(a["Rule"] for a in self.store.scan("Alerts")
                                       if str(a.get("TransactionId", "")).startswith(f"{tag}-")
                                       or str(a.get("TransactionId", "")).startswith(f"txn-pay-{tag}-"))
        self.report.alerts = dict(sorted(counts.items()))


def run_load(settings: Settings, cfg: LoadConfig, client: Any = None, sfn: Any = None) -> LoadReport:
    return Load(settings, cfg, client, sfn).run()


def demo_step(settings: Settings, args: Any) -> None:
    """Demo: 300 orders (or --orders) through the in-process saga, plus card transactions."""
    report = run_load(settings, LoadConfig(orders=args.orders, seed=args.seed, saga="inline"))
    print("  " + report.to_text().replace("\n", "\n  "), flush=True)


def report_json(report: LoadReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)
