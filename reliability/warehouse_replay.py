"""The warehouse's bulk replay: staging rows straight from the lake's change log, in DuckDB.

The per-record replay turns every lake row back into a DynamoDB image, a synthesized Kinesis record
(base64 JSON), decodes it and builds staging rows one change at a time (~2,400 changes/s, profiled).
Here the lake's typed columns become the staging tables with set-based SQL in DuckDB, which produces
exactly what `projections.warehouse.rows.build_batch` would for the same changes (a test holds them
equal): per key the highest version (order lines per (order, line_no), every product version),
customers at their earliest sighting, every day seen. The rows go to PostgreSQL by one COPY per staging
table and the SAME version-guarded MERGEs (redshift_sql/merge) in one transaction per load unit, so
every guarantee of the per-record path holds: idempotent, versions guard every write, decimals exact
(decimal128 -> text -> NUMERIC), a replay run twice ends in the same state.

What this path does not take goes through the per-record path, which names each refused change:
an order whose Lines are not plainly valid (a money value with more than two decimals, a fractional
quantity...), and a whole load unit the warehouse refuses (a value too long for its column).
Used only with the local stack (DuckDB over the lake, PostgreSQL warehouse); on AWS (Athena, Redshift)
`replay` keeps the per-record path.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from projections.lake.schema import ENTITIES
from projections.warehouse.rows import MERGES, STAGES
from reliability.replay import change_log_filters

# Day / customer sightings: the timestamp each entity's rows.py code takes them from.
_SEEN = {"order": "created_at", "payment": "created_at", "transaction": "posted_at", "alert": "raised_at",
         "cart": "created_at", "inventory_movement": "moved_at"}
_MONEY_TEXT = r"^-?[0-9]{1,36}(\.[0-9]{1,2})?$"  # DECIMAL(38,2) as rows.py accepts it on its fast path
_INT_TEXT = r"^-?[0-9]{1,38}$"
_LINE_TYPE = '[{"Sku":"VARCHAR","Qty":"VARCHAR","UnitPrice":"VARCHAR","LineAmount":"VARCHAR"}]'
_DEL = "(op = 'REMOVE')"
UNIT = 50_000  # changes per load unit: one COPY per staging table and one MERGE per table
LAST_PHASES: dict[str, Any] = {}  # seconds per phase of the last bulk replay (the benchmark reports them)


def _naive(col: str) -> str:
    return f"timezone('UTC', {col})"  # TIMESTAMPTZ -> naive UTC, as rows.ts


def _latest(entity: str) -> str:
    keys = ", ".join(ENTITIES[entity].keys)
    return f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY version DESC, sequence_number DESC) = 1"


# staging table -> (entity, SELECT over src_<entity>, in STAGES column order)
_STAGE_SQL: dict[str, tuple[str, str]] = {
    "stage_orders": ("order", f"""SELECT order_id, customer_id, cart_id, status, total_amount, currency, cancel_reason,
        saga_mode, {_naive('created_at')}, {_naive('updated_at')}, version, {_DEL} FROM src_order {_latest('order')}"""),
    "stage_order_lines": ("order", f"""SELECT order_id, i, x.Sku, CAST(x.Qty AS DECIMAL(38,0)),
        CAST(x.UnitPrice AS DECIMAL(38,2)), CAST(x.LineAmount AS DECIMAL(38,2)), created_at, version, {_DEL}
        FROM order_lines_x WHERE order_id NOT IN (SELECT order_id FROM odd_orders)
        QUALIFY row_number() OVER (PARTITION BY order_id, i ORDER BY version DESC, sequence_number DESC) = 1"""),
    "stage_payments": ("payment", f"""SELECT payment_id, order_id, customer_id, amount, currency, status,
        decline_reason, merchant, country, {_naive('created_at')}, {_naive('updated_at')}, version, {_DEL}
        FROM src_payment {_latest('payment')}"""),
    "stage_transactions": ("transaction", f"""SELECT transaction_id, customer_id, payment_id, merchant, amount,
        currency, country, {_naive('posted_at')}, version, {_DEL} FROM src_transaction {_latest('transaction')}"""),
    "stage_alerts": ("alert", f"""SELECT alert_id, transaction_id, customer_id, merchant, rule, reason, amount,
        status, {_naive('raised_at')}, version, {_DEL} FROM src_alert {_latest('alert')}"""),
    "stage_carts": ("cart", f"""SELECT cart_id, customer_id, status, COALESCE(checked_out, FALSE),
        COALESCE(item_count, 0), COALESCE(conflict_count, 0), {_naive('created_at')}, {_naive('updated_at')},
        version, {_DEL} FROM src_cart {_latest('cart')}"""),
    "stage_products": ("product", f"""SELECT product_id, version, name, category, price, qty,
        {_naive('last_update')}, {_DEL} FROM src_product
        QUALIFY row_number() OVER (PARTITION BY product_id, version ORDER BY sequence_number DESC) = 1"""),
    "stage_inventory_movements": ("inventory_movement", f"""SELECT product_id, movement_id, action, qty, reason,
        order_id, {_naive('moved_at')}, version, {_DEL} FROM src_inventory_movement {_latest('inventory_movement')}"""),
}


# Every line of every order change, parsed once (the Lines JSON of the lake keeps decimals as text).
_LINES_SQL = f"""CREATE OR REPLACE TEMP TABLE order_lines_x AS
    SELECT order_id, version, sequence_number, op, {_naive('created_at')} AS created_at, i, l[i] AS x
    FROM (SELECT *, unnest(range(1, len(l) + 1)) AS i
          FROM (SELECT *, from_json(lines, '{_LINE_TYPE}') AS l FROM src_order_all
                WHERE lines IS NOT NULL AND json_type(lines) = 'ARRAY'))"""


def _odd_orders_sql() -> str:
    """Orders whose Lines this SQL cannot take exactly as rows.py does: the per-record path decides
    them. Anything not plainly valid counts (flagging too much only costs speed): Lines not a list,
    an element that is not a map or is empty, a quantity not an integer, money not at most two
    decimals, a Sku that reads as a list or map."""
    return f"""SELECT order_id FROM src_order_all WHERE lines IS NOT NULL AND json_type(lines) <> 'ARRAY'
        UNION SELECT order_id FROM order_lines_x
        WHERE x IS NULL OR (x.Sku IS NULL AND x.Qty IS NULL AND x.UnitPrice IS NULL AND x.LineAmount IS NULL)
           OR NOT regexp_full_match(COALESCE(x.Qty, '0'), '{_INT_TEXT}')
           OR NOT regexp_full_match(COALESCE(x.UnitPrice, '0'), '{_MONEY_TEXT}')
           OR NOT regexp_full_match(COALESCE(x.LineAmount, '0'), '{_MONEY_TEXT}')
           OR left(x.Sku, 1) IN ('[', '{{')"""


def _sightings_sql(entities: list[str]) -> tuple[str, str]:
    """(stage_customers, stage_dates) over every change (not only the latest), as build_batch."""
    cust = " UNION ALL ".join(f"SELECT customer_id, {_naive(_SEEN[e])} AS t FROM src_{e} "
                              f"WHERE customer_id IS NOT NULL AND {_SEEN[e]} IS NOT NULL"
                              for e in entities if e in _SEEN and e != "inventory_movement")
    days = " UNION ".join(f"SELECT DISTINCT CAST({_naive(_SEEN[e])} AS DATE) FROM src_{e} WHERE {_SEEN[e]} IS NOT NULL"
                          for e in entities if e in _SEEN)
    return (f"SELECT customer_id, min(t) FROM ({cust}) GROUP BY customer_id" if cust else "",
            days)


def read_entity(con: Any, e: str, since: str | None = None, until: str | None = None,
                keys: list[str] | None = None) -> tuple[int, list[str]]:
    """One entity's change window of the lake -> the temp table src_<e>_all (one read of its files).
    Returns (changes read, odd order ids left for the per-record path)."""
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if ENTITIES[e].table not in present:
        return 0, []
    where, params = change_log_filters(e, since, until, keys)
    con.execute(f"CREATE OR REPLACE TEMP TABLE src_{e}_all AS SELECT * FROM {ENTITIES[e].table}{where}", params)
    odd: list[str] = []
    if e == "order":
        con.execute(_LINES_SQL)
        con.execute(f"CREATE OR REPLACE TEMP TABLE odd_orders AS {_odd_orders_sql()}")
        odd = [r[0] for r in con.execute("SELECT order_id FROM odd_orders ORDER BY 1").fetchall()]
    return con.execute(f"SELECT count(*) FROM src_{e}_all").fetchall()[0][0], odd


def _unit_view(con: Any, e: str, n: int, i: int) -> None:
    """src_<e>: load unit i of n, every change of a key in the same unit (a hash of its first key)."""
    cond = [f"hash({ENTITIES[e].keys[0]}) % {int(n)} = {int(i)}"]
    if e == "order":
        cond.append("order_id NOT IN (SELECT order_id FROM odd_orders)")
    con.execute(f"CREATE OR REPLACE TEMP VIEW src_{e} AS SELECT * FROM src_{e}_all WHERE {' AND '.join(cond)}")


def stage_unit(con: Any, e: str, n: int = 1, i: int = 0) -> tuple[dict[str, Any], int]:
    """Load unit i of n of entity e (read by read_entity) -> (its staging Arrow tables, its changes)."""
    _unit_view(con, e, n, i)
    out: dict[str, Any] = {}
    for stage, (ent, sql) in _STAGE_SQL.items():
        if ent == e:
            if stage == "stage_order_lines":
                sql = sql.replace("FROM order_lines_x WHERE", "FROM order_lines_x WHERE order_id IN "
                                  "(SELECT order_id FROM src_order) AND")
            # in the target's key order: PostgreSQL then appends to its primary key's rightmost page
            order = ", ".join(str(STAGES[stage].columns.index(k) + 1) for k in STAGES[stage].key)
            out[stage] = con.sql(f"{sql} ORDER BY {order}").to_arrow_table()
    cust, days = _sightings_sql([e])
    if cust:
        out["stage_customers"] = con.sql(cust).to_arrow_table()
    if days:
        out["stage_dates"] = con.sql(days).to_arrow_table()
    return out, con.execute(f"SELECT count(*) FROM src_{e}").fetchall()[0][0]


def unit_keys(con: Any, e: str, n: int, i: int) -> list[str]:
    _unit_view(con, e, n, i)
    return [r[0] for r in con.execute(f"SELECT DISTINCT {ENTITIES[e].keys[0]} FROM src_{e} ORDER BY 1").fetchall()]


class Loader:
    """One warehouse session for a whole replay. Its staging tables are session-private TEMP tables
    with the shared staging tables' names and columns: PostgreSQL resolves a table name in pg_temp
    first, so the SAME merge statements (redshift_sql/merge) read them, the live projector's staging is
    never touched, and temp tables are neither WAL-logged nor left with dead rows between units."""

    def __init__(self, dsn: str):
        import psycopg

        from projections.warehouse.adapters import TransientLoadError

        try:
            self.c = psycopg.connect(dsn, connect_timeout=10, autocommit=True)
        except psycopg.OperationalError as e:
            raise TransientLoadError(f"cannot connect to the warehouse: {e}") from e
        self.c.execute("SET temp_buffers = '512MB'")  # before the first temp table of the session
        for t in STAGES:
            self.c.execute(f"CREATE TEMP TABLE {t} (LIKE {t})")  # resolves to the shared table: no temp one yet

    def close(self) -> None:
        self.c.close()

    def load(self, tables: dict[str, Any]) -> None:
        """One transaction: COPY every staging table, then every MERGE of rows.MERGES (version-guarded).
        Errors as the warehouse adapter's: TerminalLoadError (the data), TransientLoadError."""
        from projections.warehouse.adapters import _LOAD_LOCK, classified_load_errors, merge_statements
        from projections.warehouse.columnar import to_csv

        c = self.c
        with classified_load_errors("load"), c.transaction():
            # the live projector's loads share dimension keys: one load at a time, as adapters does
            c.execute("SELECT pg_advisory_xact_lock(%s)", (_LOAD_LOCK,))
            # a replay can be re-run from the lake: losing its last commit to a crash is harmless
            c.execute("SET LOCAL synchronous_commit = off")
            c.execute("SET LOCAL work_mem = '256MB'")
            c.execute(f"TRUNCATE {', '.join(STAGES)}")  # the temp tables (pg_temp comes first)
            for t, data in tables.items():
                if data.num_rows:
                    with c.cursor().copy(f"COPY {t} ({', '.join(STAGES[t].columns)}) FROM STDIN (FORMAT csv)") as cp:
                        cp.write(to_csv(data))
            for sql in merge_statements("postgres"):
                c.execute(sql)


def lake_connection(settings: Any, entities: list[str]) -> Any:
    """DuckDB over the change-log tables of `entities` only (athena.local_connection registers every
    table and translates every view of the lake on each call: ~0.2-0.8 s a replay does not need)."""
    import duckdb

    from projections.lake import athena

    glue = settings.boto3_client("glue")
    filesystem = athena.s3_filesystem(settings)
    wanted = {ENTITIES[e].table for e in entities}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # as the lake's own connection: Athena evaluates in UTC
    for t in athena._glue_tables(glue, settings.glue_database):
        if t["Name"] in wanted:
            con.register(t["Name"], athena._dataset(glue, filesystem, settings.glue_database, t))
    return con


def replay(settings: Any, entities: list[str], since: str | None, until: str | None, keys: list[str] | None,
           per_record: Callable[[Any, str, list[str] | None], Any], unit: int | None = None) -> tuple[int, list[str], float]:
    """Bulk replay into the local PostgreSQL warehouse, in load units of about `unit` changes (every
    change of a key in one unit), each ONE transaction. DuckDB builds the next unit while a loader
    thread loads this one (both release the GIL). `per_record(con, entity, keys)` replays keys by the
    per-record path and returns its Progress: used for odd orders and for a unit the warehouse refuses.
    Returns (changes applied, failed record ids, seconds)."""
    from projections.warehouse.adapters import TerminalLoadError

    assert MERGES  # the merge order is rows.MERGES, read by merge_statements
    unit = unit or UNIT
    t0 = time.monotonic()
    todo: queue.Queue[tuple[str, int, int, dict[str, Any], int] | None] = queue.Queue(maxsize=1)
    loaded: list[int] = []
    refused: list[tuple[str, int, int]] = []
    errors: list[BaseException] = []
    phases = {"units": 0, "stage_s": 0.0, "load_s": 0.0, "staged_rows": 0}

    def loader() -> None:
        try:
            session = Loader(settings.warehouse_dsn)
        except BaseException as ex:  # noqa: BLE001 - re-raised by the caller's thread
            errors.append(ex)
            session = None
        while (item := todo.get()) is not None:
            e, n, i, tables, changes = item
            if errors:
                continue  # drain: the replay stops at the first error that is not the data's
            t = time.monotonic()
            try:
                assert session is not None
                session.load(tables)
                loaded.append(changes)
            except TerminalLoadError:
                refused.append((e, n, i))
            except BaseException as ex:  # noqa: BLE001 - re-raised by the caller's thread
                errors.append(ex)
            phases["load_s"] += time.monotonic() - t
            phases["units"] += 1
        if session is not None:
            session.close()

    con = lake_connection(settings, entities)
    worker = threading.Thread(target=loader, name="warehouse-replay-loader", daemon=True)
    worker.start()
    odd: list[str] = []
    try:
        phases["open_lake_s"] = time.monotonic() - t0
        # orders last: their Lines take the longest to stage, so that overlaps the other entities' loads
        for e in sorted(entities, key=lambda x: x == "order"):
            t = time.monotonic()
            total, odd_e = read_entity(con, e, since, until, keys)
            odd += odd_e
            n = max(1, -(-total // unit))
            for i in range(n if total else 0):
                if errors:
                    break
                tables, changes = stage_unit(con, e, n, i)
                phases["stage_s"] += time.monotonic() - t
                phases["staged_rows"] += sum(x.num_rows for x in tables.values())
                todo.put((e, n, i, tables, changes))
                t = time.monotonic()
    finally:
        todo.put(None)
        worker.join()
    try:
        if errors:
            raise errors[0]
        applied, failed = sum(loaded), []
        # what the bulk path did not take: the per-record path decides, naming every refused change
        for e, n, i in refused:
            p = per_record(con, e, unit_keys(con, e, n, i))
            applied += p.applied
            failed += p.failed
        if odd:
            p = per_record(con, "order", odd)
            applied += p.applied
            failed += p.failed
        LAST_PHASES.clear()
        LAST_PHASES.update({k: round(v, 2) if isinstance(v, float) else v for k, v in phases.items()},
                           seconds=round(time.monotonic() - t0, 2), refused_units=len(refused), odd_orders=len(odd))
        return applied, failed, time.monotonic() - t0
    finally:
        con.close()
