"""Demo step: three analyst queries of athena_sql/queries/ on the Parquet lake."""
from __future__ import annotations

from typing import Any

from projections.lake.athena import SQL_ROOT, local_connection, run_athena, run_local
from projections.lake.output import to_text

DEMO_QUERIES = ("revenue_per_day", "saga_rollbacks_by_cause", "top_products")


def demo_step(settings: Any, args: Any) -> None:
    if settings.aws_endpoint_url:
        con = local_connection(settings)  # one catalog scan for the three queries
        run = lambda sql: run_local(con, sql)
    else:
        run = lambda sql: run_athena(settings, sql)
    for name in DEMO_QUERIES:
        columns, rows = run((SQL_ROOT / "queries" / f"{name}.sql").read_text())
        print(f"-- athena_sql/queries/{name}.sql")
        print("\n".join("  " + line for line in to_text(columns, rows).splitlines()))
