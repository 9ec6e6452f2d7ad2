"""Projection throughput per projector, ours side by side with the naive references, on the same
batch in the same process. Rates are records per CPU-second of this process (`time.process_time`):
one core's worth, and robust to other processes sharing the machine (wall time is reported too)."""
from __future__ import annotations

import gc
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bench import exact
from bench.events import kinesis_event
from bench.paths import PATHS


@dataclass
class Rate:
    projector: str
    variant: str
    records: int
    out_bytes: int
    cpu_s: float  # best of the repeats
    wall_s: float
    exact: bool

    @property
    def per_core(self) -> float:
        return self.records / self.cpu_s if self.cpu_s > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "records_per_s_per_core": round(self.per_core)}


def measure(event: Mapping[str, Any], projector: str, variant: str, repeats: int = 3,
            want: dict[str, Any] | None = None) -> Rate:
    fn = PATHS[projector][variant]
    n, size, out = fn(event)  # warm-up, and the output whose exactness is checked
    ok = True
    if want is not None:
        exact.check(projector, variant, out, want)  # raises: a fast wrong answer is not a result
    del out
    best_cpu = best_wall = float("inf")
    for _ in range(repeats):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        fn(event)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return Rate(projector, variant, n, size, best_cpu, best_wall, ok)


def run(records: int = 10_000, repeats: int = 5, projectors: tuple[str, ...] = ("lake", "search", "warehouse"),
        seed: int = 7) -> dict[str, Any]:
    event = kinesis_event(records, seed)
    want = exact.expected_amounts(event)
    results: dict[str, Any] = {}
    for p in projectors:
        rates = [measure(event, p, v, repeats, want) for v in PATHS[p]]
        ours = rates[0]
        naive = next(r for r in rates if r.variant == "naive")
        results[p] = {"variants": {r.variant: r.to_dict() for r in rates},
                      "ours_per_core": round(ours.per_core), "naive_per_core": round(naive.per_core),
                      "ratio_vs_naive": round(ours.per_core / naive.per_core, 2)}
    return {"records": records, "repeats": repeats, "projectors": results}
