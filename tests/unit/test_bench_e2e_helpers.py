"""Pure helpers of the end-to-end benchmark (the stack runs are benchmarks, not tests)."""
from __future__ import annotations

from bench.e2e import Tracker, _pct


def test_percentiles():
    xs = [float(i) for i in range(1, 101)]
    assert _pct(xs, 50) == 51.0 and _pct(xs, 99) == 99.0 and _pct(xs, 100) == 100.0
    assert _pct([], 50) is None
    assert _pct([3.0], 99) == 3.0


def test_tracker_first_sighting_wins_and_ignores_unknown_ids():
    t = Tracker(("search", "lake"))
    t.wrote("a", 10.0)
    t.wrote("b", 11.0)
    assert sorted(t.pending("search")) == ["a", "b"]
    t.saw("search", {"a", "zzz"}, 12.0)
    t.saw("search", {"a", "b"}, 15.0)
    assert t.seen["search"] == {"a": 12.0, "b": 15.0}
    assert t.pending("search") == [] and sorted(t.pending("lake")) == ["a", "b"]
