"""`cqrs bench --only index`: steady small bulks into the local OpenSearch stand-in on a private stack."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench import index

pytestmark = pytest.mark.integration


def test_index_bench_paces_bulks_and_reports_latency():
    out = index.run(SimpleNamespace(quick=True, rates="70", duration=2.0))
    # paced: ~70 documents/s for 2 s in bulks of 7 (every bulk accepted, or run() raises)
    assert out["documents"] % index.DOCS_PER_BULK == 0
    assert 70 <= out["documents"] <= 2 * 70 + index.DOCS_PER_BULK
    assert 0 < out["bulk_p50_ms"] <= out["bulk_p99_ms"] <= out["bulk_max_ms"]
    assert all(p["pause_s"] > index.PAUSE_S for p in out[f"pauses_over_{index.PAUSE_S}s"])
