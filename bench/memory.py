"""Peak memory of each projector's pure path on a ~6 MB Lambda event (Lambda's payload limit),
measured in a fresh subprocess: ru_maxrss after the path minus ru_maxrss before it (the event
already built), and tracemalloc's peak of Python allocations during the path."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

_CHILD = r"""
import json, resource, sys, tracemalloc
from bench.events import event_of_size
from bench.paths import PATHS
import orjson
projector, variant, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
event = event_of_size(size)
PATHS[projector][variant](event_of_size(20000))  # imports and first-use caches, outside the measure
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
n, out_bytes, _ = PATHS[projector][variant](event)
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"records": n, "event_bytes": len(orjson.dumps(event)), "rss_before_mb": before / 1024,
                  "rss_peak_mb": after / 1024, "rss_growth_mb": (after - before) / 1024,
                  "tracemalloc_peak_mb": peak / 2**20}))
"""


def measure(projector: str, variant: str = "ours", size: int = 6 * 2**20) -> dict[str, Any]:
    r = subprocess.run([sys.executable, "-c", _CHILD, projector, variant, str(size)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"memory bench of {projector}/{variant} failed: {r.stderr.strip()[-500:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in d.items()}


def run(size: int = 6 * 2**20, projectors: tuple[str, ...] = ("lake", "search", "warehouse")) -> dict[str, Any]:
    return {p: measure(p, "ours", size) for p in projectors}
