"""`cqrs demo` step: one report from each side (warehouse and lake), and the one-truth check over
every report both sides define."""
from __future__ import annotations

from typing import Any

from projections.warehouse.onetruth import compare
from projections.warehouse.query import format_table


def demo_step(settings: Any, args: Any) -> None:
    results = compare(settings, settings)
    first = next((c for c in results if c.report == "revenue_per_day"), results[0] if results else None)
    if first is not None:
        print(f"  warehouse (redshift_sql/reports/{first.report}.sql):")
        print("    " + format_table(*first.warehouse).replace("\n", "\n    "))
        print(f"  lake (athena_sql/queries/{first.report}.sql):")
        print("    " + format_table(*first.lake).replace("\n", "\n    "))
    agree = [c.report for c in results if c.agree]
    differ = [c.report for c in results if not c.agree]
    print(f"  one truth: {len(agree)} of {len(results)} reports agree exactly between warehouse and lake")
    for name in differ:
        print(f"    DIFFERS: {name} (compare `cqrs query redshift redshift_sql/reports/{name}.sql` "
              f"with `cqrs query athena athena_sql/queries/{name}.sql`)")
