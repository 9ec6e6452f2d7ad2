"""The stack benchmarks' quick mode runs (`cqrs bench --quick --only api|index`): each starts its own
private stack. Figures are not asserted (benchmarks, not timed tests); that they run and measure what
they say is."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench import api, index

pytestmark = pytest.mark.integration


def test_api_bench_indexes_documents_and_answers_filtered_searches():
    out = api.run(SimpleNamespace(quick=True))
    assert out["documents_indexed"] > 1000  # 2,000 changes: transactions and orders, latest version each
    assert out["requests"] == 100 and 0 < out["p50_ms"] <= out["p99_ms"] <= out["max_ms"]
    assert out["mean_hits_total"] > 0  # the filters match some of the demo data


def test_index_bench_paces_bulks_of_each_size_and_reports_latency():
    out = index.run(SimpleNamespace(quick=True, rates="70", duration=2.0))
    for size in index.BULK_SIZES:
        run = out[f"bulks_of_{size}"]
        # paced: ~70 documents/s for 2 s in bulks of `size` (every bulk accepted, or run() raises)
        assert run["documents"] == run["bulks"] * size
        assert 70 <= run["documents"] <= 2 * 70 + size
        assert 0 < run["bulk_p50_ms"] <= run["bulk_p99_ms"] <= run["bulk_max_ms"]
        assert all(p["pause_s"] > index.PAUSE_S for p in run[f"pauses_over_{index.PAUSE_S}s"])
