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

import io
import time
from collections.abc import Callable
from typing import Any

from projections.lake.schema import ENTITIES
from projections.warehouse.rows import MERGES, STAGES

# Day / customer sightings: the timestamp each entity's rows.py code takes them from.
_SEEN = {"order": "created_at", "payment": "created_at", "transaction": "posted_at", "alert": "raised_at",
         "cart": "created_at", "inventory_movement": "moved_at"}
_MONEY_TEXT = r"^-?[0-9]{1,36}(\.[0-9]{1,2})?$"  # DECIMAL(38,2) as rows.py accepts it on its fast path
_INT_TEXT = r"^-?[0-9]{1,38}$"
_LINE_TYPE = '[{"Sku":"VARCHAR","Qty":"VARCHAR","UnitPrice":"VARCHAR","LineAmount":"VARCHAR"}]'
_DEL = "(op = 'REMOVE')"
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


def _filters(entity: str, since: str | None, until: str | None, keys: list[str] | None) -> tuple[str, list[Any]]:
    where, params = [], []
    if since:
        where.append("event_time >= CAST(? AS TIMESTAMP)")
        params.append(since)
    if until:
        where.append("event_time < CAST(? AS TIMESTAMP)")
        params.append(until)
    if keys:
        where.append(f"{ENTITIES[entity].keys[0]} IN ({', '.join('?' for _ in keys)})")
        params += keys
    return (" WHERE " + " AND ".join(where) if where else ""), params


def staging_tables(con: Any, entities: list[str], since: str | None = None, until: str | None = None,
                   keys: list[str] | None = None) -> tuple[dict[str, Any], dict[str, int], list[str]]:
    """The lake's changes -> (staging Arrow tables, changes read per entity, odd order ids left for
    the per-record path). `con` is the lake's DuckDB connection (athena.local_connection)."""
    counts: dict[str, int] = {}
    odd: list[str] = []
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    used = []
    for e in entities:
        table = ENTITIES[e].table
        if table not in present:
            counts[e] = 0
            continue
        where, params = _filters(e, since, until, keys)
        con.execute(f"CREATE OR REPLACE TEMP TABLE src_{e}_all AS SELECT * FROM {table}{where}", params)
        if e == "order":
            con.execute(_LINES_SQL)
            con.execute(f"CREATE OR REPLACE TEMP TABLE odd_orders AS {_odd_orders_sql()}")
            odd = [r[0] for r in con.execute("SELECT order_id FROM odd_orders ORDER BY 1").fetchall()]
            con.execute("CREATE OR REPLACE TEMP VIEW src_order AS SELECT * FROM src_order_all "
                        "WHERE order_id NOT IN (SELECT order_id FROM odd_orders)")
        else:
            con.execute(f"CREATE OR REPLACE TEMP VIEW src_{e} AS SELECT * FROM src_{e}_all")
        counts[e] = con.execute(f"SELECT count(*) FROM src_{e}").fetchall()[0][0]
        if counts[e]:
            used.append(e)
    out: dict[str, Any] = {}
    for stage, (e, sql) in _STAGE_SQL.items():
        if e in used:
            # in the target's key order: PostgreSQL then appends to its primary key's rightmost page
            order = ", ".join(str(STAGES[stage].columns.index(k) + 1) for k in STAGES[stage].key)
            out[stage] = con.sql(f"{sql} ORDER BY {order}").to_arrow_table()
    cust, days = _sightings_sql(used)
    if cust:
        out["stage_customers"] = con.sql(cust).to_arrow_table()
    if days:
        out["stage_dates"] = con.sql(days).to_arrow_table()
    return out, counts, odd


def _csv(table: Any) -> bytes:
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    # every valid value quoted, NULL unquoted: PostgreSQL's CSV tells "" (empty text) from NULL
    pcsv.write_csv(table, buf, pcsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    return buf.getvalue()


def load(dsn: str, tables: dict[str, Any]) -> None:
    """One transaction: COPY every staging table, ANALYZE them, run every MERGE (the files of
    redshift_sql/merge, version-guarded), empty staging. Errors as the warehouse adapter's."""
    import psycopg

    from projections.warehouse.adapters import (_LOAD_LOCK, TerminalLoadError, TransientLoadError,
                                                merge_statements)

    try:
        with psycopg.connect(dsn, connect_timeout=10) as c, c.transaction():
            c.execute("SELECT pg_advisory_xact_lock(%s)", (_LOAD_LOCK,))
            # a replay can be re-run from the lake: losing its last commit to a crash is harmless
            c.execute("SET LOCAL synchronous_commit = off")
            c.execute("SET LOCAL work_mem = '256MB'")
            for t in STAGES:
                c.execute(f"DELETE FROM {t}")
            for t, data in tables.items():
                if data.num_rows:
                    with c.cursor().copy(f"COPY {t} ({', '.join(STAGES[t].columns)}) FROM STDIN (FORMAT csv)") as cp:
                        cp.write(_csv(data))
            for s in merge_statements("postgres"):
                c.execute(s)
            for t in STAGES:
                c.execute(f"DELETE FROM {t}")
    except psycopg.errors.UniqueViolation as e:
        raise TransientLoadError(f"concurrent warehouse load, retry can help: {e}") from e
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as e:
        raise TerminalLoadError(f"the warehouse refused the load: {e.diag.message_primary or e}") from e
    except psycopg.OperationalError as e:
        raise TransientLoadError(f"warehouse load aborted, retry can help: {e}") from e


def replay(settings: Any, entities: list[str], since: str | None, until: str | None, keys: list[str] | None,
           per_record: Callable[[Any, str, list[str] | None], Any]) -> tuple[int, list[str], float]:
    """Bulk replay into the local PostgreSQL warehouse. `per_record(con, entity, keys)` replays
    the given keys (None: the whole entity window) by the per-record path and returns its Progress.
    Returns (changes applied, failed record ids, seconds)."""
    from projections.lake import athena
    from projections.warehouse.adapters import TerminalLoadError

    assert MERGES  # the merge order is rows.MERGES, read by merge_statements
    t0 = time.monotonic()
    con = athena.local_connection(settings)
    try:
        t1 = time.monotonic()
        tables, counts, odd = staging_tables(con, entities, since, until, keys)
        t2 = time.monotonic()
        applied, failed = 0, []
        try:
            load(settings.warehouse_dsn, tables)
            LAST_PHASES.update(open_lake_s=round(t1 - t0, 2), stage_s=round(t2 - t1, 2),
                               load_s=round(time.monotonic() - t2, 2),
                               staged_rows=sum(t.num_rows for t in tables.values()))
            applied = sum(counts.values())
        except TerminalLoadError:
            # a value the warehouse refuses: the per-record path isolates and names each refused change
            for e in entities:
                p = per_record(con, e, keys)
                applied += p.applied
                failed += p.failed
            odd = []
        if odd:
            p = per_record(con, "order", odd)
            applied += p.applied
            failed += p.failed
        return applied, failed, time.monotonic() - t0
    finally:
        con.close()
