"""One truth: the same report from the lake (athena_sql/queries/<name>.sql via run_athena) and the
warehouse (redshift_sql/reports/<name>.sql via run_redshift) must give the same answer.

Values are compared exactly after normalising engine types only: numbers as Decimal (an integer
count from one engine equals the same count as DECIMAL from the other), days as ISO dates.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cqrs.settings import REPO_ROOT

ATHENA_QUERIES = REPO_ROOT / "athena_sql" / "queries"
REDSHIFT_REPORTS = REPO_ROOT / "redshift_sql" / "reports"

Runner = Callable[[Any, str], tuple[list[str], list[tuple[Any, ...]]]]


def shared_reports() -> list[str]:
    """Reports that exist on both sides."""
    lake = {p.stem for p in ATHENA_QUERIES.glob("*.sql")}
    return sorted(p.stem for p in REDSHIFT_REPORTS.glob("*.sql") if p.stem in lake)


def norm(v: Any) -> Any:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, Decimal)):
        return Decimal(v).normalize() if Decimal(v) != 0 else Decimal(0)
    if isinstance(v, float):
        return Decimal(repr(v)).normalize()
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


@dataclass
class Comparison:
    report: str
    warehouse: tuple[list[str], list[tuple[Any, ...]]]
    lake: tuple[list[str], list[tuple[Any, ...]]]

    @property
    def agree(self) -> bool:
        return self.normalised(self.warehouse) == self.normalised(self.lake)

    @staticmethod
    def normalised(result: tuple[list[str], list[tuple[Any, ...]]]) -> tuple[list[str], list[tuple[Any, ...]]]:
        cols, rows = result
        return list(cols), [tuple(norm(v) for v in r) for r in rows]


def compare(settings_warehouse: Any, settings_lake: Any, reports: list[str] | None = None,
            run_redshift: Runner | None = None, run_athena: Runner | None = None) -> list[Comparison]:
    from projections.lake.athena import run_athena as default_athena
    from projections.warehouse.query import run_redshift as default_redshift

    wh_runner: Runner = run_redshift or default_redshift
    lake_runner: Runner = run_athena or default_athena
    out = []
    for name in reports or shared_reports():
        wh = wh_runner(settings_warehouse, (REDSHIFT_REPORTS / f"{name}.sql").read_text())
        lk = lake_runner(settings_lake, (ATHENA_QUERIES / f"{name}.sql").read_text())
        out.append(Comparison(name, wh, lk))
    return out
