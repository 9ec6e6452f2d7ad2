"""Run Redshift SQL against the configured warehouse: `cqrs query redshift`, dashboards, demo.

Locally the SQL (Redshift dialect, as in redshift_sql/reports/) is translated to PostgreSQL by
sqlglot; against Redshift it is sent as written. Values are never pasted into SQL: callers with
parameters use the adapter's `query(sql, params)`.
"""
from __future__ import annotations

import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

import orjson

from cqrs.settings import Settings
from projections.warehouse.adapters import from_settings
from projections.warehouse.dialect import UnsupportedSql


def run_redshift(settings: Settings, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    return from_settings(settings).query(sql)


def report_sql(name: str) -> str:
    from projections.warehouse.dialect import read_sql

    return read_sql("reports", name)


def run_cli(settings: Settings, sql_text: str, as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        cols, rows = run_redshift(settings, sql_text)
    except UnsupportedSql as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except LookupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a CLI says what happened instead of a traceback
        print(f"error: the warehouse query failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if as_json:
        out.write(orjson.dumps([dict(zip(cols, r)) for r in rows], default=_json).decode() + "\n")
    else:
        out.write(format_table(cols, rows) + "\n")
    return 0


def _json(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)  # exact: money never becomes a float
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return str(v)


def format_table(cols: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))
    return "\n".join([line(cols), line(["-" * w for w in widths]), *map(line, cells),
                      f"({len(rows)} row{'s' if len(rows) != 1 else ''})"])
