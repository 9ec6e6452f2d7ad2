"""redshift_sql/ -> the local PostgreSQL: translated with sqlglot (read="redshift", write="postgres").

Redshift-only physical properties (DISTSTYLE, DISTKEY, SORTKEY, column ENCODE, BACKUP) say where and
how rows are stored, not what a query means, so they are stripped. Anything sqlglot cannot carry
across raises `UnsupportedSql` naming the construct and the file, instead of running something else.
"""
from __future__ import annotations

from pathlib import Path

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
        return [e for e in sqlglot.parse(sql, read="redshift") if e is not None]
    except ParseError as e:
        raise UnsupportedSql(f"{source}: not valid Redshift SQL: {e}") from None


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


def sql_files(kind: str) -> list[Path]:
    """The .sql files of redshift_sql/<kind>/ in their numbered order."""
    return sorted((SQL_ROOT / kind).glob("*.sql"))


def read_sql(kind: str, name: str) -> str:
    path = SQL_ROOT / kind / f"{name}.sql"
    if not path.exists():
        raise FileNotFoundError(f"no Redshift SQL file {path.relative_to(REPO_ROOT)}")
    return path.read_text()
