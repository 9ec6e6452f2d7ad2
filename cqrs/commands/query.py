"""`cqrs query athena|redshift (FILE | --sql SQL) [--json]`: run analyst SQL against a read model.

athena: the lake (DuckDB over the Parquet locally, Athena in AWS; projections.lake.athena).
redshift: the warehouse (projections.warehouse.query.run_cli).
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("query", help="run SQL against the lake (athena) or the warehouse (redshift)")
    qs = p.add_subparsers(dest="engine", required=True, metavar="ENGINE")
    for engine, help_ in (("athena", "Athena SQL on the lake (locally: DuckDB over the same Parquet)"),
                          ("redshift", "Redshift SQL on the warehouse")):
        q = qs.add_parser(engine, help=help_)
        src = q.add_mutually_exclusive_group(required=True)
        src.add_argument("file", nargs="?", help="a .sql file (e.g. athena_sql/queries/revenue_per_day.sql)")
        src.add_argument("--sql", help="SQL text")
        q.add_argument("--json", action="store_true", help="JSON output (decimals as exact strings)")
        q.set_defaults(func=cmd_query)


def _sql_text(args: argparse.Namespace) -> str:
    from cqrs.cli import CliError

    if args.sql is not None:
        return str(args.sql)
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such SQL file: {path}")
    return path.read_text()


def cmd_query(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from cqrs.settings import Settings

    settings = Settings.from_env()
    sql = _sql_text(args)
    if args.engine == "redshift":
        run_cli = importlib.import_module("projections.warehouse.query").run_cli
        return int(run_cli(settings, sql, args.json) or 0)
    from projections.lake.athena import AthenaSqlError, run_athena
    from projections.lake.output import to_json, to_text

    try:
        columns, rows = run_athena(settings, sql)
    except AthenaSqlError as e:
        raise CliError(str(e)) from None
    print(to_json(columns, rows) if args.json else to_text(columns, rows))
    return 0
