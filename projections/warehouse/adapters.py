"""Warehouse adapters: where staging rows are loaded and MERGEd, and where reports run.

* `PostgresWarehouse`: the local embedded PostgreSQL (redshift_sql/ translated by sqlglot, staging
  by COPY FROM STDIN), or a direct connection to Redshift itself (`dialect="redshift"`: SQL sent as
  written, staging by parameterised multi-row INSERT because Redshift has no COPY FROM STDIN).
* `RedshiftDataWarehouse`: Redshift Serverless through the Redshift Data API (staging by COPY from
  the batch's Parquet on S3; values as Parameters; describe_statement polled with backoff).

Every load is ONE transaction: empty staging, stage, every MERGE of `rows.MERGES`, empty staging.
Errors are `TerminalLoadError` (the data is wrong: isolate the record) or `TransientLoadError`
(the warehouse is unreachable or busy: retry the batch).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from typing import Any, Protocol

from projections.warehouse import dialect
from projections.warehouse.rows import MERGES, STAGES, Batch


class LoadError(RuntimeError):
    retryable = False


class TerminalLoadError(LoadError):
    """The batch holds data the warehouse refuses (a constraint, a type): retrying cannot help."""


class TransientLoadError(LoadError):
    """The warehouse could not be reached or the transaction was aborted: retrying can help."""

    retryable = True


class Warehouse(Protocol):
    def apply(self, batch: Batch) -> None: ...
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]: ...
    def create_schema(self) -> None: ...


@cache
def statements(kind: str, name: str | None, target: str) -> tuple[str, ...]:
    """The statements of redshift_sql/<kind>/<name>.sql (or of every file of <kind> when name is
    None) for `target` "postgres" (translated) or "redshift" (as written, split by sqlglot)."""
    files = dialect.sql_files(kind) if name is None else [dialect.SQL_ROOT / kind / f"{name}.sql"]
    out: list[str] = []
    for f in files:
        text = f.read_text()
        src = str(f.relative_to(dialect.SQL_ROOT.parent))
        if target == "postgres":
            out.extend(dialect.to_postgres(text, src))
        else:
            out.extend(e.sql(dialect="redshift") for e in dialect.parse(text, src))
    return tuple(out)


def merge_statements(target: str) -> list[str]:
    return [s for m in MERGES for s in statements("merge", m, target)]


_LOAD_LOCK = 0x57415245  # "WARE": the advisory lock that serialises local loads


def _staging_reset() -> list[str]:
    return [f"DELETE FROM {t}" for t in STAGES]


# --- PostgreSQL protocol: the local PostgreSQL, or Redshift directly --------------------------
@contextmanager
def classified_load_errors(what: str) -> Iterator[None]:
    """A PostgreSQL load's errors as TerminalLoadError (the data: retrying cannot help) or
    TransientLoadError (the warehouse: retrying can). `what`: "batch", "load", for the message."""
    import psycopg

    try:
        yield
    except psycopg.errors.UniqueViolation as e:
        # staging is deduplicated and version-guarded: a duplicate key means a concurrent load
        raise TransientLoadError(f"concurrent warehouse load, retry can help: {e}") from e
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as e:
        raise TerminalLoadError(f"the warehouse refused the {what}: {e.diag.message_primary or e}") from e
    except psycopg.OperationalError as e:
        raise TransientLoadError(f"warehouse load aborted, retry can help: {e}") from e


class PostgresWarehouse:
    def __init__(self, dsn: str, dialect_name: str = "postgres", connect: Callable[[str], Any] | None = None):
        self.dsn = dsn
        self.target = dialect_name
        self._connect = connect

    def _conn(self) -> Any:
        import psycopg

        try:
            return (self._connect or (lambda d: psycopg.connect(d, connect_timeout=10)))(self.dsn)
        except psycopg.OperationalError as e:
            raise TransientLoadError(f"cannot connect to the warehouse: {e}") from e

    def create_schema(self) -> None:
        with self._conn() as c:
            for s in statements("ddl", None, self.target):
                c.execute(s)

    def apply(self, batch: Batch) -> None:
        with classified_load_errors("batch"), self._conn() as c, c.transaction():
            if self.target == "postgres":
                # Loads from different shards share dimension keys (a customer, a day): run them
                # one at a time, as Redshift's serializable transactions would.
                c.execute("SELECT pg_advisory_xact_lock(%s)", (_LOAD_LOCK,))
            for s in _staging_reset():
                c.execute(s)
            for table, rows in batch.rows.items():
                if rows:
                    self._stage(c, table, rows)
            for table, t in batch.arrow.items():
                if t.num_rows:
                    self._stage_arrow(c, table, t)
            for s in merge_statements(self.target):
                c.execute(s)
            for s in _staging_reset():
                c.execute(s)

    def _stage(self, c: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
        cols = STAGES[table].columns
        if self.target == "postgres":
            with c.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
            return
        # Redshift over a direct connection has no COPY FROM STDIN: multi-row INSERTs, values bound.
        one = "(" + ", ".join(["%s"] * len(cols)) + ")"
        for i in range(0, len(rows), 500):
            chunk = rows[i:i + 500]
            c.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES " + ", ".join([one] * len(chunk)),
                      [v for r in chunk for v in r])

    def _stage_arrow(self, c: Any, table: str, t: Any) -> None:
        """Columnar staging rows: CSV written by Arrow in C (every string quoted, so an empty string is
        not NULL; decimals and timestamps as exact text), one COPY. Redshift direct: row INSERTs."""
        if self.target != "postgres":
            self._stage(c, table, [tuple(r.values()) for r in t.to_pylist()])
            return
        from projections.warehouse.columnar import to_csv

        cols = STAGES[table].columns
        with c.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT csv)") as cp:
            cp.write(to_csv(t.select(list(cols))))

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        stmts = list(dialect.to_postgres(sql)) if self.target == "postgres" else [sql]
        with self._conn() as c:
            cur = c.cursor()
            for s in stmts:
                cur.execute(s, params)
            cols = [d.name for d in cur.description] if cur.description else []
            return cols, [tuple(r) for r in cur.fetchall()] if cur.description else []


# --- Redshift Data API ------------------------------------------------------------------------
_TERMINAL_HINTS = ("violat", "invalid input", "invalid digit", "overflow", "value too long", "not-null",
                   "null value", "out of range", "syntax error", "does not exist", "load into table")
# Concurrency conflicts and lost connections pass: the same statements can succeed when retried.
_TRANSIENT_HINTS = ("serializable isolation", "1023", "deadlock", "lock", "connection", "timeout", "terminat")


class RedshiftDataWarehouse:
    def __init__(self, client: Any, *, workgroup: str | None, database: str, secret_arn: str | None = None,
                 s3: Any = None, stage_uri: str | None = None, iam_role: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_wait_s: float = 300.0):
        self.client, self.workgroup, self.database, self.secret_arn = client, workgroup, database, secret_arn
        self.s3, self.stage_uri, self.iam_role = s3, stage_uri, iam_role
        self.sleep, self.max_wait_s = sleep, max_wait_s

    def _target(self) -> dict[str, Any]:
        t: dict[str, Any] = {"Database": self.database}
        if self.workgroup:
            t["WorkgroupName"] = self.workgroup
        if self.secret_arn:
            t["SecretArn"] = self.secret_arn
        return t

    def _wait(self, statement_id: str) -> dict[str, Any]:
        delay, waited = 0.1, 0.0
        while True:
            d = self.client.describe_statement(Id=statement_id)
            status = d["Status"]
            if status == "FINISHED":
                return d
            if status in ("FAILED", "ABORTED"):
                err = str(d.get("Error", status))
                low = err.lower()
                terminal = any(h in low for h in _TERMINAL_HINTS) and not any(h in low for h in _TRANSIENT_HINTS)
                cls = TerminalLoadError if terminal else TransientLoadError
                raise cls(f"Redshift statement {statement_id} {status}: {err}")
            if waited >= self.max_wait_s:
                raise TransientLoadError(f"Redshift statement {statement_id} still {status} after {waited:.0f}s")
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)  # backoff: quick statements answer fast, long ones poll rarely

    def create_schema(self) -> None:
        self._transaction(list(statements("ddl", None, "redshift")))

    def _run(self, sql: str, session: str | None = None, keep_alive: bool = False) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"SessionId": session} if session else self._target()
        if keep_alive:
            kwargs["SessionKeepAliveSeconds"] = 120
        r = self.client.execute_statement(Sql=sql, **kwargs)
        self._wait(r["Id"])
        return r

    def _transaction(self, sqls: list[str]) -> None:
        """Run statements as ONE transaction in a Data API session (BatchExecuteStatement would cap a
        load at 40 statements; a load has about 50)."""
        session = self._run("BEGIN", keep_alive=True)["SessionId"]
        try:
            for s in sqls:
                self._run(s, session)
            self._run("COMMIT", session)
        except BaseException:
            try:
                self._run("ROLLBACK", session)
            except LoadError:
                pass  # the session is gone; Redshift rolls the open transaction back itself
            raise

    def apply(self, batch: Batch) -> None:
        if not (self.s3 and self.stage_uri and self.iam_role):
            raise TerminalLoadError("Redshift loads need CQRS_WAREHOUSE_STAGE_URI and CQRS_REDSHIFT_IAM_ROLE "
                                    "(COPY reads the batch's Parquet from S3)")
        prefix = f"{self.stage_uri.rstrip('/')}/{uuid.uuid4().hex}"
        copies = []
        rows_by_table = {**batch.rows, **{t: [tuple(r.values()) for r in a.to_pylist()] for t, a in batch.arrow.items()}}
        for table, rows in rows_by_table.items():
            if rows:
                uri = f"{prefix}/{table}.parquet"
                self._put_parquet(uri, table, rows)
                # the URI and role come from our own settings, never from record data
                copies.append(f"COPY {table} FROM '{uri}' IAM_ROLE '{self.iam_role}' FORMAT AS PARQUET")
        self._transaction(_staging_reset() + copies + merge_statements("redshift") + _staging_reset())

    def _put_parquet(self, uri: str, table: str, rows: list[tuple[Any, ...]]) -> None:
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = dialect.staging_arrow_schema(table)
        cols = STAGES[table].columns
        data = pa.table({c: pa.array([r[i] for r in rows], type=schema.field(c).type) for i, c in enumerate(cols)},
                        schema=schema)
        buf = io.BytesIO()
        pq.write_table(data, buf)
        bucket, key = uri[len("s3://"):].split("/", 1)
        self.s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        kwargs = self._target()
        if params:
            if not isinstance(params, dict):
                raise ValueError("the Data API takes named parameters (:name), pass a dict")
            kwargs["Parameters"] = [{"name": k, "value": str(v)} for k, v in params.items()]
        sid = self.client.execute_statement(Sql=sql, **kwargs)["Id"]
        d = self._wait(sid)
        if not d.get("HasResultSet"):
            return [], []
        cols: list[str] = []
        rows: list[tuple[Any, ...]] = []
        token = None
        while True:
            page = self.client.get_statement_result(Id=sid, **({"NextToken": token} if token else {}))
            meta = page["ColumnMetadata"]
            cols = [m["name"] for m in meta]
            for rec in page["Records"]:
                rows.append(tuple(_field(f, m) for f, m in zip(rec, meta)))
            token = page.get("NextToken")
            if not token:
                return cols, rows


def _field(f: dict[str, Any], meta: dict[str, Any]) -> Any:
    if f.get("isNull"):
        return None
    if "stringValue" in f:
        v = f["stringValue"]
        return Decimal(v) if meta.get("typeName") in ("numeric", "decimal") else v
    for k in ("longValue", "booleanValue", "doubleValue"):
        if k in f:
            return f[k]
    return None


def from_settings(settings: Any) -> Warehouse:
    """The warehouse the settings name: a DSN (local PostgreSQL, or Redshift directly when the DSN's
    host is a Redshift endpoint), else the Redshift Data API workgroup."""
    if settings.warehouse_dsn:
        redshift = ".redshift" in settings.warehouse_dsn or ":5439/" in settings.warehouse_dsn
        return PostgresWarehouse(settings.warehouse_dsn, "redshift" if redshift else "postgres")
    if settings.redshift_workgroup:
        return RedshiftDataWarehouse(settings.boto3_client("redshift-data"), workgroup=settings.redshift_workgroup,
                                     database=settings.redshift_database, secret_arn=settings.redshift_secret_arn,
                                     s3=settings.boto3_client("s3"), stage_uri=settings.warehouse_stage_uri,
                                     iam_role=settings.redshift_iam_role)
    raise LookupError("no warehouse configured: set CQRS_WAREHOUSE_DSN (local PostgreSQL or Redshift) or "
                      "CQRS_REDSHIFT_WORKGROUP (Redshift Data API), or start the local stack with `cqrs up`")


def provision(settings: Any) -> None:
    """Provisioning step (cqrs/provision.py EXTRA_STEPS): create the star schema. Idempotent."""
    if not (settings.warehouse_dsn or settings.redshift_workgroup):
        return  # no warehouse in this deployment
    from_settings(settings).create_schema()
