"""Peak memory of each projector's pure path on a ~6 MB Lambda event (Lambda's payload limit),
measured in a fresh subprocess (VmHWM from /proc/self/status) that, like the Lambda runtime, parses the event from JSON bytes:
  rss_base_mb    high-water RSS after imports, a warm-up on a tiny event, and the parsed event
  rss_peak_mb    high-water RSS after the path ran (what Lambda's memory size must cover)
  tracemalloc_peak_mb  Python allocations made by the path itself, at their peak."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import orjson

_CHILD = r"""
import json, sys, tracemalloc
import orjson

def hwm_kb():  # VmHWM: this process image's RSS high-water mark (ru_maxrss would carry the parent's over fork+exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from bench.events import kinesis_event
from bench.paths import PATHS
projector, variant, path = sys.argv[1], sys.argv[2], sys.argv[3]
PATHS[projector][variant](kinesis_event(20))  # imports and first-use caches, outside the measure
raw = open(path, "rb").read()
event = orjson.loads(raw)
del raw
base = hwm_kb()
tracemalloc.start()
n, out_bytes, out = PATHS[projector][variant](event)
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
after = hwm_kb()
print(json.dumps({"records": n, "out_bytes": out_bytes, "rss_base_mb": base / 1024, "rss_peak_mb": after / 1024,
                  "rss_growth_mb": (after - base) / 1024, "tracemalloc_peak_mb": peak / 2**20}))
"""


def measure(projector: str, variant: str = "ours", size: int = 6 * 2**20) -> dict[str, Any]:
    from bench.events import event_of_size

    data = orjson.dumps(event_of_size(size))
    fd, path = tempfile.mkstemp(suffix=".json", prefix="bench-event-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        r = subprocess.run([sys.executable, "-c", _CHILD, projector, variant, path],
                           capture_output=True, text=True, timeout=600, check=False)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError(f"memory bench of {projector}/{variant} failed: {r.stderr.strip()[-500:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["event_bytes"] = len(data)
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in d.items()}


def run(size: int = 6 * 2**20, projectors: tuple[str, ...] = ("lake", "search", "warehouse")) -> dict[str, Any]:
    return {p: measure(p, "ours", size) for p in projectors}
