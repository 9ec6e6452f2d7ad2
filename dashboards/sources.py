"""Fetch each panel's data from the read models (the thin adapter side of the dashboards).

Reports run the panel's SQL file through the lake's `run_athena` or the warehouse's
`run_redshift`; search panels run an aggregation (dashboards.search); pipeline panels read the
pipeline's own signals (dashboards.pipeline). A failing source fails only its panel, with a
message saying what happened."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cqrs.settings import Settings
from dashboards.definition import Dashboard, Panel
from dashboards.filters import Filters
from dashboards.render import PanelData

Runner = Callable[[Settings, str], tuple[list[str], list[tuple[Any, ...]]]]
ENGINES = {"athena": "projections.lake.athena:run_athena",
           "redshift": "projections.warehouse.query:run_redshift"}


def engine_runner(engine: str) -> Runner:
    module, func = ENGINES[engine].split(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def run_sql(settings: Settings, engine: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cols, rows = engine_runner(engine)(settings, sql)
    return list(cols), [tuple(r) for r in rows]


def fetch_panel(settings: Settings, panel: Panel, engine: str, filters: Filters) -> PanelData:
    try:
        if panel.source_kind == "report":
            path = panel.query_file(engine)
            if not path.exists():
                return PanelData([], [], error=f"query file {path.relative_to(path.parents[2])} does not exist")
            cols, rows = run_sql(settings, engine, path.read_text())
            return apply_filters(panel, PanelData(cols, rows), filters)
        if panel.source_kind == "search":
            from dashboards import search

            return search.fetch(settings, panel.source, filters)
        from dashboards import pipeline

        return pipeline.fetch(settings, panel.source, engine)
    except Exception as e:  # noqa: BLE001 - one broken source must not blank the whole page
        return PanelData([], [], error=f"{type(e).__name__}: {e} (retry once the read model answers)")


def apply_filters(panel: Panel, data: PanelData, f: Filters) -> PanelData:
    """Row filters for report panels. Reports are pre-aggregated, so a customer filter applies only
    to panels whose rows are per customer; others say so in a note rather than pretend."""
    rows, notes = data.rows, list(data.notes)
    tcol, ccol = panel.time_column, panel.customer_column
    if (f.start or f.end):
        if tcol:
            i = data.columns.index(tcol)
            rows = [r for r in rows if f.day_ok(r[i])]
        else:
            notes.append("all time (no time column)")
    if f.customer:
        if ccol:
            i = data.columns.index(ccol)
            rows = [r for r in rows if str(r[i]) == f.customer]
        else:
            notes.append("all customers (report is not per customer)")
    return PanelData(data.columns, rows, data.error, notes)


def fetch_all(settings: Settings, dashboards: list[Dashboard], engine: str = "redshift",
              filters: Filters | None = None) -> dict[str, PanelData]:
    f = filters or Filters()
    return {p.id: fetch_panel(settings, p, engine, f) for d in dashboards for p in d.panels}
