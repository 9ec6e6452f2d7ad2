"""redshift_sql/ -> the local PostgreSQL: translated with sqlglot (read="redshift", write="postgres").

Redshift-only physical properties (DISTSTYLE, DISTKEY, SORTKEY, column ENCODE, BACKUP) say where and
how rows are stored, not what a query means, so they are stripped. Anything sqlglot cannot carry
across raises `UnsupportedSql` naming the construct and the file, instead of running something else.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from cqrs.settings import REPO_ROOT

SQL_ROOT = REPO_ROOT / "redshift_sql"

_PHYSICAL = (exp.DistStyleProperty, exp.DistKeyProperty, exp.SortKeyProperty, exp.EncodeColumnConstraint,
             exp.BackupProperty)


class UnsupportedSql(ValueError):
    """The Redshift SQL cannot run on the local PostgreSQL (terminal: fix the SQL file)."""


def parse(sql: str, source: str = "<sql>") -> list[exp.Expression]:
    """Redshift SQL text -> statements; a parse error names the file."""
    try:
        return [e for e in sqlglot.parse(sql, read="redshift") if isinstance(e, exp.Expression)]
    except ParseError as e:
        errs = "; ".join(f"{x.get('description')} near {x.get('highlight')!r} (line {x.get('line')})"
                         for x in e.errors[:3]) or str(e)
        raise UnsupportedSql(f"{source}: not valid Redshift SQL: {errs}") from None


def _strip_physical(tree: exp.Expression) -> exp.Expression:
    for node in list(tree.find_all(*_PHYSICAL)):
        parent = node.parent
        node.pop()
        # a column constraint wrapper left empty must go too
        if isinstance(parent, exp.ColumnConstraint) and parent.args.get("kind") is None:
            parent.pop()
    props = tree.args.get("properties")
    if isinstance(props, exp.Properties) and not props.expressions:
        tree.set("properties", None)
    return tree


def to_postgres(sql: str, source: str = "<sql>") -> list[str]:
    """Redshift SQL text -> PostgreSQL statements."""
    out = []
    for tree in parse(sql, source):
        tree = _strip_physical(tree)
        try:
            out.append(tree.sql(dialect="postgres", unsupported_level=ErrorLevel.RAISE))
        except (UnsupportedError, ValueError) as e:
            raise UnsupportedSql(f"{source}: {type(tree).__name__} uses syntax the local PostgreSQL "
                                 f"cannot run: {e}") from None
    return out


_ARROW = {"VARCHAR": "string", "CHAR": "string", "TEXT": "string", "BOOLEAN": "bool_", "DATE": "date32",
          "TIMESTAMP": "timestamp", "SMALLINT": "int16", "INT": "int32", "BIGINT": "int64", "DECIMAL": "decimal"}


def staging_arrow_schema(table: str) -> Any:
    """The Arrow schema of a staging table, read from redshift_sql/ddl/012_staging.sql, so the Parquet
    that Redshift's COPY reads has exactly the staging table's types (DECIMAL(38,2) stays exact)."""
    import pyarrow as pa

    for tree in parse((SQL_ROOT / "ddl" / "012_staging.sql").read_text(), "012_staging.sql"):
        if tree.this.this.name != table:
            continue
        fields = []
        for col in tree.this.expressions:
            if not isinstance(col, exp.ColumnDef):
                continue
            kind = col.args["kind"]
            name = _ARROW.get(kind.this.name)
            if name == "decimal":
                p, sc = (int(x.this.this) for x in kind.expressions)
                t = pa.decimal128(p, sc)
            elif name == "timestamp":
                t = pa.timestamp("us")
            elif name is None:
                raise UnsupportedSql(f"012_staging.sql: no Parquet type for {kind.sql('redshift')}")
            else:
                t = getattr(pa, name)()
            fields.append(pa.field(col.name, t))
        return pa.schema(fields)
    raise KeyError(f"no staging table {table!r} in redshift_sql/ddl/012_staging.sql")


def sql_files(kind: str) -> list[Path]:
    """The .sql files of redshift_sql/<kind>/ in their numbered order."""
    return sorted((SQL_ROOT / kind).glob("*.sql"))


def read_sql(kind: str, name: str) -> str:
    path = SQL_ROOT / kind / f"{name}.sql"
    if not path.exists():
        raise FileNotFoundError(f"no Redshift SQL file {path.relative_to(REPO_ROOT)}")
    return path.read_text()
