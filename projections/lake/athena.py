"""Run Athena SQL (the files in athena_sql/) against the lake.

Locally (an endpoint override is set): the SQL is translated by sqlglot from Athena's (Trino)
dialect to DuckDB's; every table of the Glue database becomes a pyarrow dataset over its S3
location (the partitions Glue lists, typed by Glue's columns) registered in DuckDB; the views of
athena_sql/views/ are created from their files; then the query runs. Against AWS the same SQL goes
to Athena through awswrangler. `run_athena(settings, sql) -> (columns, rows)` for every caller.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa

from projections.lake.schema import arrow_type, from_glue_type

SQL_ROOT = Path(__file__).resolve().parents[2] / "athena_sql"
VIEWS_DIR = SQL_ROOT / "views"


class AthenaSqlError(ValueError):
    """The SQL cannot be run: a parse error or syntax the local engine does not support. Not retryable."""


def translate(sql: str) -> list[str]:
    """Athena SQL -> DuckDB statements; names what cannot be translated."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

    try:
        return [s for s in sqlglot.transpile(sql, read="athena", write="duckdb",
                                             unsupported_level=ErrorLevel.RAISE) if s.strip()]
    except UnsupportedError as e:
        raise AthenaSqlError(f"unsupported Athena syntax for the local engine: {e}") from None
    except ParseError as e:
        errs = "; ".join(f"{x.get('description')} near {x.get('highlight')!r} (line {x.get('line')})"
                         for x in e.errors[:3]) or str(e)
        raise AthenaSqlError(f"not valid Athena SQL: {errs}") from None


def s3_filesystem(settings: Any) -> Any:
    from pyarrow import fs

    if settings.aws_endpoint_url:
        u = urlparse(settings.aws_endpoint_url)
        return fs.S3FileSystem(access_key="testing", secret_key="testing", region=settings.region,
                               endpoint_override=u.netloc, scheme=u.scheme or "http")
    return fs.S3FileSystem(region=settings.region)


def _glue_tables(glue: Any, database: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        out += page["TableList"]
    return out


def _dataset(glue: Any, filesystem: Any, database: str, t: dict[str, Any]) -> Any:
    """A Glue table -> a pyarrow dataset over the files of its registered partitions."""
    import pyarrow.dataset as ds
    from pyarrow import fs

    cols = [(c["Name"], arrow_type(*from_glue_type(c["Type"]))) for c in t["StorageDescriptor"]["Columns"]]
    pkeys = [(p["Name"], pa.string()) for p in t.get("PartitionKeys", [])]
    schema = pa.schema(cols + pkeys)
    base = t["StorageDescriptor"]["Location"].removeprefix("s3://").rstrip("/")
    dirs = [base]
    if pkeys:
        dirs = []
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=t["Name"]):
            dirs += [p["StorageDescriptor"]["Location"].removeprefix("s3://").rstrip("/") for p in page["Partitions"]]
    files: list[str] = []
    for d in sorted(set(dirs)):
        infos = filesystem.get_file_info(fs.FileSelector(d, allow_not_found=True, recursive=True))
        files += sorted(i.path for i in infos if i.type == fs.FileType.File and i.path.endswith(".parquet"))
    if not files:
        return schema.empty_table()
    part = ds.partitioning(pa.schema(pkeys), flavor="hive") if pkeys else None
    return ds.dataset(files, schema=schema, format="parquet", filesystem=filesystem,
                      partitioning=part, partition_base_dir=base)


def view_files() -> list[Path]:
    return sorted(VIEWS_DIR.glob("*.sql"))


def local_connection(settings: Any) -> Any:
    """A DuckDB connection with every Glue table registered and every view created."""
    import duckdb

    glue = settings.boto3_client("glue")
    filesystem = s3_filesystem(settings)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # Athena evaluates timestamps in UTC
    for t in _glue_tables(glue, settings.glue_database):
        con.register(t["Name"], _dataset(glue, filesystem, settings.glue_database, t))
    for f in view_files():
        for stmt in translate(f.read_text()):
            try:
                con.execute(stmt)
            except duckdb.Error as e:  # name the file: the SQL is ours
                raise AthenaSqlError(f"view {f.name} failed locally: {e}") from None
    return con


def run_local(con: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import duckdb

    stmts = translate(sql)
    if not stmts:
        raise AthenaSqlError("no SQL statement given")
    cur = None
    for stmt in stmts:
        try:
            cur = con.execute(stmt)
        except duckdb.Error as e:
            raise AthenaSqlError(f"query failed: {e}") from None
    assert cur is not None
    if cur.description is None:
        return [], []
    return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]


def run_athena(settings: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one Athena SQL text (statements separated by `;`, the last one's result is returned)."""
    if settings.aws_endpoint_url:
        con = local_connection(settings)
        try:
            return run_local(con, sql)
        finally:
            con.close()
    return _run_aws(settings, sql)


def _run_aws(settings: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import awswrangler as wr
    import boto3
    import pandas as pd

    session = boto3.Session(region_name=settings.region)
    for f in view_files():  # CREATE OR REPLACE VIEW: idempotent, keeps the catalog's views current
        qid = wr.athena.start_query_execution(f.read_text(), database=settings.glue_database, boto3_session=session)
        wr.athena.wait_query(qid, boto3_session=session)
    df = wr.athena.read_sql_query(sql, database=settings.glue_database, ctas_approach=False,
                                  boto3_session=session)
    return list(df.columns), [tuple(None if pd.isna(v) else v for v in r)
                              for r in df.itertuples(index=False, name=None)]
