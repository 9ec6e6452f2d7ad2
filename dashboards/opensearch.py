"""The search-side panels as OpenSearch Dashboards saved objects (ndjson, the format of
Dashboards Management > Saved objects > Import): one index pattern per alias the panels read,
one visualization per search panel, and a dashboard holding them. Pure builder + a writer."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboards.definition import Dashboard, load

# search panel -> (alias resource, time field, visualization state)
VISUALIZATIONS: dict[str, dict[str, Any]] = {
    "flagged_merchants": {
        "resource": "alerts", "time_field": "raised_at", "type": "horizontal_bar",
        "aggs": [
            {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}},
            {"id": "2", "enabled": True, "type": "sum", "schema": "metric", "params": {"field": "amount"}},
            {"id": "3", "enabled": True, "type": "terms", "schema": "segment",
             "params": {"field": "merchant", "size": 10, "order": "desc", "orderBy": "1"}},
        ],
    },
    # The same alerts index also answers "alerts by rule": useful next to the merchants.
    "alerts_by_rule": {
        "resource": "alerts", "time_field": "raised_at", "type": "histogram",
        "aggs": [
            {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}},
            {"id": "2", "enabled": True, "type": "terms", "schema": "segment",
             "params": {"field": "rule", "size": 10, "order": "desc", "orderBy": "1"}},
        ],
    },
}


def saved_objects(board: Dashboard, prefix: str = "") -> list[dict[str, Any]]:
    from projections.search.mappings import alias_name

    objs: list[dict[str, Any]] = []
    patterns: dict[str, str] = {}
    vis_ids: list[tuple[str, str]] = []
    names = [p.source for p in board.panels if p.source_kind == "search"] + ["alerts_by_rule"]
    titles = {p.source: p.title for p in board.panels if p.source_kind == "search"}
    titles.setdefault("alerts_by_rule", "Second Look alerts by rule (search)")
    for name in names:
        v = VISUALIZATIONS[name]
        alias = alias_name(v["resource"], prefix)
        if alias not in patterns:
            pid = f"cqrs-index-pattern-{alias}"
            patterns[alias] = pid
            objs.append({"type": "index-pattern", "id": pid, "attributes": {
                "title": alias, "timeFieldName": v["time_field"]}, "references": []})
        vid = f"cqrs-vis-{name}"
        vis_ids.append((vid, name))
        state = {"title": titles[name], "type": v["type"], "aggs": v["aggs"],
                 "params": {"addTooltip": True, "addLegend": False, "type": v["type"]}}
        objs.append({"type": "visualization", "id": vid, "attributes": {
            "title": titles[name], "visState": json.dumps(state), "uiStateJSON": "{}",
            "description": f"{board.title}: {titles[name]}", "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({
                "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
                "query": {"query": "deleted:false", "language": "kuery"}, "filter": []})}},
            "references": [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                            "type": "index-pattern", "id": patterns[alias]}]})
    panels = [{"panelIndex": str(i + 1), "gridData": {"x": 24 * (i % 2), "y": 15 * (i // 2), "w": 24, "h": 15,
                                                       "i": str(i + 1)},
               "version": "2.11.0", "panelRefName": f"panel_{i}", "embeddableConfig": {}}
              for i in range(len(vis_ids))]
    objs.append({"type": "dashboard", "id": f"cqrs-dashboard-{board.id}", "attributes": {
        "title": f"{board.title} (search)", "description": board.description, "panelsJSON": json.dumps(panels),
        "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}), "version": 1,
        "timeRestore": False, "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
            {"query": {"query": "", "language": "kuery"}, "filter": []})}},
        "references": [{"name": f"panel_{i}", "type": "visualization", "id": vid}
                       for i, (vid, _) in enumerate(vis_ids)]})
    return objs


def write_saved_objects(directory: Path, prefix: str = "") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    board = load("transaction_insights")
    path = directory / f"{board.id}.ndjson"
    path.write_text("".join(json.dumps(o, sort_keys=True) + "\n" for o in saved_objects(board, prefix)))
    return [path]


if __name__ == "__main__":  # python -m dashboards.opensearch [DIR]
    import sys

    for p in write_saved_objects(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "opensearch")):
        print(p)
