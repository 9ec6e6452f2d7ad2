"""Dashboard definitions: YAML files beside this module, one per dashboard, each panel bound to
exactly one data source: a report (the same-named SQL file in athena_sql/queries/ and
redshift_sql/reports/), a search aggregation (dashboards.search), or a pipeline signal
(dashboards.pipeline)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DEFAULT_DASHBOARDS = ("transaction_insights", "pipeline_health")
CHARTS = {"bar", "hbar", "bar_line", "stacked_bar", "funnel", "columns", "table"}
SOURCE_KINDS = ("report", "search", "pipeline")


class DefinitionError(ValueError):
    """A dashboard file is malformed; the message names the file and the panel."""


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    chart: str
    source_kind: str  # report | search | pipeline
    source: str  # report name, search aggregation name, or pipeline signal name
    spec: dict[str, Any] = field(repr=False, default_factory=dict)

    def query_file(self, engine: str) -> Path:
        """The SQL file this panel runs on `engine` (athena or redshift)."""
        if self.source_kind != "report":
            raise DefinitionError(f"panel {self.id} is not bound to a SQL report")
        sub = {"athena": "athena_sql/queries", "redshift": "redshift_sql/reports"}[engine]
        return REPO_ROOT / sub / f"{self.source}.sql"

    @property
    def time_column(self) -> str | None:
        x = self.spec.get("x") or {}
        return x.get("column") if x.get("time") else None

    @property
    def customer_column(self) -> str | None:
        x = self.spec.get("x") or {}
        return x.get("column") if x.get("customer") else None


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    description: str
    panels: tuple[Panel, ...]


def parse(doc: dict[str, Any], origin: str = "<dict>") -> Dashboard:
    try:
        panels = []
        seen: set[str] = set()
        for p in doc["panels"]:
            kinds = [k for k in SOURCE_KINDS if k in p]
            if len(kinds) != 1:
                raise DefinitionError(f"{origin}: panel {p.get('id')!r} needs exactly one of {SOURCE_KINDS}")
            if p["chart"] not in CHARTS:
                raise DefinitionError(f"{origin}: panel {p['id']!r} has unknown chart {p['chart']!r}")
            if p["id"] in seen:
                raise DefinitionError(f"{origin}: panel id {p['id']!r} is used twice")
            seen.add(p["id"])
            panels.append(Panel(id=p["id"], title=p["title"], chart=p["chart"], source_kind=kinds[0],
                                source=str(p[kinds[0]]), spec=p))
        return Dashboard(id=doc["id"], title=doc["title"], description=doc.get("description", ""),
                         panels=tuple(panels))
    except KeyError as e:
        raise DefinitionError(f"{origin}: missing key {e}") from None


def load(name: str, directory: Path = HERE) -> Dashboard:
    import yaml

    path = directory / f"{name}.yaml"
    return parse(yaml.safe_load(path.read_text()), str(path))


def load_all(names: tuple[str, ...] = DEFAULT_DASHBOARDS) -> list[Dashboard]:
    return [load(n) for n in names]
