"""Pure helpers of the end-to-end benchmark (the stack runs are benchmarks, not tests)."""
from __future__ import annotations

from bench.e2e import Tracker, _pct, backlog_growth


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


def test_text_report_tables_each_rate_and_skips_models_a_run_lacks():
    from bench.report import to_text

    fresh = {"p50_s": 0.5, "p99_s": 1.9, "max_s": 2.5, "p99_first_half_s": 1.8, "p99_second_half_s": 2.0,
             "not_visible": 0}
    run = {"rate_target": 116.0, "posted": 100, "rate_achieved": 115.9, "poster_late": 0, "sustainable": True,
           "search": fresh, "lake": {**fresh, "not_visible": 3, "last_error": "NoSuchBucket"},
           "runner_max_backlog_while_posting": {"search-projector": {"max_lag_records": 7, "max_lag_age_s": 0.4}}}
    out = {"machine": {"nproc": 2, "cpu": "x", "ram_gib": 1, "python": "3.11", "load_average_1m": 0, "date": "d"},
           "command": "cqrs bench --only e2e",
           "e2e": {"duration_s": 60.0, "poll_interval_s": {"search": 0.2}, "runs": [run],
                   "highest_sustainable_rate_tried": 116.0}}
    text = to_text(out)
    assert "116/s: posted 100 at 115.9/s, 0 late; sustainable=True" in text
    search = next(line for line in text.splitlines() if line.strip().startswith("search "))
    assert search.split()[:4] == ["search", "0.5", "1.9", "2.5"]
    assert "(NoSuchBucket)" in text and "warehouse" not in text and "changes" not in text
    assert "search-projector 7 records / 0.4 s" in text


def test_a_consumer_falling_behind_is_a_growing_backlog():
    # 60 s at 100/s: the queue grows ~50/s in the second-look (falls behind); the search projector's
    # backlog jitters around a few hundred records (keeps up); the event pipe only spikes once early.
    samples = []
    for t in range(0, 60, 2):
        samples += [(1000.0 + t, "second-look", 50 * t), (1000.0 + t, "search-projector", 300 + (t % 3) * 40),
                    (1000.0 + t, "event-pipe", 900 if t == 4 else 20)]
    assert backlog_growth(samples, 1000.0, 60.0, 100.0) == {
        "second-look": True, "search-projector": False, "event-pipe": False}


def test_an_interrupted_run_stops_its_posters_at_once(monkeypatch, tmp_path):
    """A SIGTERM (SystemExit in the main thread) or a Ctrl-C ends the run now: posters waiting for their
    turn return instead of sleeping out the schedule. The DynamoDB client here is a stand-in whose first
    put raises KeyboardInterrupt, a fault no real service produces on demand."""
    import time

    import pytest

    from bench import e2e
    from cqrs.settings import Settings

    class Interrupting:
        def put_item(self, **_):
            raise KeyboardInterrupt

    class Local(Settings):
        def boto3_client(self, service, session=None):
            return Interrupting()

    monkeypatch.setattr(e2e, "POLLERS", {})
    settings = Local(state_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        e2e.run_rate(settings, rate=1.0, duration=60.0, tag="t")
    assert time.monotonic() - started < 1.5  # the three other posters were due 1-3 s in
