"""`cqrs reconcile`: does every read model hold exactly the command side's current state?

For each view (docs/DOMAIN.md read-model names) and each read model (search, lake, warehouse) it
compares, with the command side (a consistent scan; in AWS a DynamoDB export, see stores.py):
counts, the highest version, the sum of versions, and a checksum over the canonical rows
(reliability.canonical). Every key that differs is listed with the store and how (missing, extra,
stale, ahead, different columns). `repair=True` re-projects exactly those keys through each
projector's own handler: the current item as an upsert, or a versioned tombstone for a key the
command side no longer has. The report is saved to `<state_dir>/reliability/reconcile.json`
(`last_report`), where the dashboard's pipeline-health panel reads it.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cqrs.settings import Settings
from reliability import synth
from reliability.canonical import VIEWS, VIEWS_BY_NAME, Drift, checksum, columns_to_image, diff
from reliability.stores import (
    STORES,
    Rows,
    command_items,
    command_rows,
    iter_views,
    store_records,
    store_rows,
)


def report_path(settings: Settings) -> Path:
    return Path(settings.state_dir) / "reliability" / "reconcile.json"


def last_report(settings: Settings) -> dict[str, Any] | None:
    """The last saved reconcile report, or None when reconcile has not run against this stack."""
    try:
        return json.loads(report_path(settings).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _summary(rows: Rows) -> dict[str, Any]:
    return {"count": len(rows), "max_version": max((r.version for r in rows.values()), default=0),
            "version_sum": sum(r.version for r in rows.values()), "checksum": checksum(rows.values())}


def compare(settings: Settings, stores: tuple[str, ...] = STORES) -> dict[str, Any]:
    t0 = time.monotonic()
    items = command_items(settings)
    cmd = command_rows(items)
    report: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "stores": list(stores),
                              "views": {v.name: {"command": _summary(cmd[v.name])} for v in VIEWS},
                              "drift": [], "errors": {}}
    records: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for store in stores:
        try:
            records[store] = store_records(settings, store)
        except Exception as e:  # noqa: BLE001 - an unreachable store is drift we cannot measure: reported
            report["errors"][store] = f"{type(e).__name__}: {e}"
            continue
        rows = store_rows(records[store])
        for v in iter_views(store):
            got = rows.get(v.name, {})
            report["views"][v.name][store] = _summary(got)
            report["drift"] += [d.to_dict() for d in diff(v, store, cmd[v.name], got)]
    report["drift_count"] = len(report["drift"])
    report["ok"] = not report["drift"] and not report["errors"]
    report["seconds"] = round(time.monotonic() - t0, 3)
    report["_items"], report["_records"] = items, records  # for repair; never saved
    return report


def repair(settings: Settings, report: dict[str, Any]) -> dict[str, Any]:
    """Re-project exactly the drifted keys into the stores where they drifted."""
    from reliability.sinks import make_sink

    items: dict[str, list[dict[str, Any]]] = report["_items"]
    records = report["_records"]
    per_store: dict[str, list[dict[str, Any]]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_key = {name: {tuple(str(c) for c in _key(VIEWS_BY_NAME[name], i)): i for i in its}
              for name, its in items.items()}
    for d in report["drift"]:
        v = VIEWS_BY_NAME[d["view"]]
        key = tuple(d["key"])
        table = settings.table(v.table)
        item = by_key[v.name].get(key)
        if item is not None:
            per_store[d["store"]].append(synth.upsert(v.table, item, settings.region, table))
            counts[d["store"]]["upserts"] += 1
        else:
            last = next(r for r in records[d["store"]][v.name] if tuple(str(r[k]) for k in v.keys) == key)
            per_store[d["store"]].append(synth.tombstone(v.table, columns_to_image(v, last), settings.region, table))
            counts[d["store"]]["tombstones"] += 1
    for store, recs in per_store.items():
        sink = make_sink(settings, store)
        for ev in synth.events(recs):
            counts[store]["failed"] += len(sink(ev))
    return {s: dict(c) for s, c in counts.items()}


def _key(view: Any, item: dict[str, Any]) -> tuple[Any, ...]:
    from reliability.canonical import item_columns

    cols = item_columns(view, item)
    return tuple(cols[k] for k in view.keys)


def public(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if not k.startswith("_")}


def save(settings: Settings, report: dict[str, Any]) -> None:
    path = report_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(public(report), indent=1, sort_keys=True, default=str))
    tmp.replace(path)


def reconcile(settings: Settings, do_repair: bool = False, stores: tuple[str, ...] = STORES) -> dict[str, Any]:
    """Compare (and optionally repair, then compare again); saves and returns the final report."""
    report = compare(settings, stores)
    if do_repair and report["drift"]:
        before = report["drift_count"]
        repaired = repair(settings, report)
        report = compare(settings, stores)
        report["repaired"] = repaired
        report["drift_before_repair"] = before
    save(settings, report)
    return public(report)


def to_text(report: dict[str, Any], limit: int = 30) -> str:
    lines = []
    stores = report["stores"]
    lines.append(f"{'view':<20} {'command':>8} " + " ".join(f"{s:>10}" for s in stores) + "   checksum")
    for name, v in report["views"].items():
        c = v["command"]
        cells = []
        for s in stores:
            x = v.get(s)
            cells.append(f"{'-' if x is None else x['count']:>10}")
        same = all(v[s]["checksum"] == c["checksum"] for s in stores if s in v)
        lines.append(f"{name:<20} {c['count']:>8} " + " ".join(cells) + f"   {'equal' if same else 'DIFFERS'}"
                     f" ({c['checksum'][:12]})")
    for s, e in report["errors"].items():
        lines.append(f"error: {s} could not be read: {e}")
    for d in report["drift"][:limit]:
        cols = f" columns {','.join(d['columns'])}" if d["columns"] else ""
        lines.append(f"drift: {d['store']}/{d['view']} {'/'.join(d['key'])}: {d['kind']} "
                     f"(command v{d['command_version']}, {d['store']} v{d['store_version']}){cols}")
    if report["drift_count"] > limit:
        lines.append(f"... and {report['drift_count'] - limit} more (see --json)")
    if "repaired" in report:
        lines.append(f"repaired {report['drift_before_repair']} drifted key(s): {report['repaired']}")
    lines.append(f"{'no drift' if report['ok'] else 'DRIFT'}: {report['drift_count']} drifted key(s) "
                 f"in {report['seconds']}s")
    return "\n".join(lines)


def demo_step(settings: Settings, args: Any) -> None:
    """Demo: after the drain, every read model must equal the command side, exactly."""
    report = reconcile(settings)
    print("\n".join("  " + ln for ln in to_text(report, limit=10).splitlines()))
    if not report["ok"]:
        from cqrs.cli import CliError

        raise CliError(f"reconcile found {report['drift_count']} drifted key(s) and errors {report['errors']}")


__all__ = ["Drift", "compare", "demo_step", "last_report", "reconcile", "repair", "report_path"]
