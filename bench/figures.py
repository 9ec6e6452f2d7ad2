"""bench/figures.json: the measured figures, committed, read by the capacity model.

`per_core_rates()` is the interface for cqrs/capacity.py: projector -> records/s per core of the
pure path (decode + build + serialize), as last measured by `cqrs bench --record`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("figures.json")


def load(path: Path = PATH) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def per_core_rates(path: Path = PATH) -> dict[str, int]:
    """{"lake": records/s, "search": ..., "warehouse": ...} per core; {} if never measured."""
    t = load(path).get("throughput", {}).get("projectors", {})
    return {name: int(p["ours_per_core"]) for name, p in t.items()}


def save(figures: dict[str, Any], path: Path = PATH) -> None:
    """Merge `figures` into the file (a partial run keeps the other sections)."""
    cur = load(path)
    cur.update(figures)
    path.write_text(json.dumps(cur, indent=2, sort_keys=True) + "\n")
