"""The benchmark harness on tiny inputs: correctness only (speed is measured by `cqrs bench`, never
asserted in tests)."""
from __future__ import annotations

import argparse
import json
from decimal import Decimal

import pytest

from bench import exact, figures, memory, throughput
from bench.events import kinesis_event
from bench.paths import PATHS
from ingestion.change_event import decode_lambda_event


def test_events_are_aws_shaped_and_decode_exactly():
    e = kinesis_event(300, seed=3)
    batch = decode_lambda_event(e)
    assert len(batch.events) == 300 and not batch.failures
    assert {ev.entity for ev in batch.events} == {"transaction", "order"}
    assert {ev.operation for ev in batch.events} == {"INSERT", "MODIFY"}
    amounts = [ev.image["Amount"] for ev in batch.events if ev.entity == "transaction"]
    assert all(isinstance(a, Decimal) and a.as_tuple().exponent == -2 for a in amounts)
    assert kinesis_event(50, seed=3) == kinesis_event(50, seed=3)  # deterministic for a seed


@pytest.mark.parametrize("projector,variant", [(p, v) for p, vs in PATHS.items() for v in vs])
def test_every_path_produces_exact_output(projector, variant):
    e = kinesis_event(200, seed=5)
    n, size, out = PATHS[projector][variant](e)
    assert n == 200 and size > 0
    exact.check(projector, variant, out, exact.expected_amounts(e))


def test_exactness_check_catches_a_float():
    want = {"t1": Decimal("12345678901234567890.12")}
    body = b'{"index":{}}\n{"transaction_id":"t1","amount":12345678901234567890.12}\n'
    with pytest.raises(AssertionError, match="not exactly"):
        exact.check("search", "naive", body, want)
    with pytest.raises(AssertionError, match="missing"):
        exact.check("search", "naive", b"", want)


def test_huge_amounts_are_in_the_sample():
    e = kinesis_event(1000, seed=7)
    want = exact.expected_amounts(e, sample=10)
    assert any(len(a.as_tuple().digits) > 20 for a in want.values())


def test_throughput_reports_rates_and_ratio():
    r = throughput.run(records=150, repeats=1, projectors=("warehouse",))
    p = r["projectors"]["warehouse"]
    assert set(p["variants"]) == {"ours", "ours_per_event", "naive"}
    assert p["ours_per_core"] > 0 and p["naive_per_core"] > 0
    assert p["ratio_vs_naive"] == round(p["ours_per_core"] / p["naive_per_core"], 2)
    assert all(v["exact"] and v["records"] == 150 for v in p["variants"].values())


def test_memory_measures_in_a_subprocess():
    d = memory.measure("search", size=64 * 1024)
    assert d["records"] > 10 and d["event_bytes"] > 32 * 1024
    assert d["rss_peak_mb"] > 0 and d["tracemalloc_peak_mb"] > 0


def test_figures_merge_and_rates(tmp_path):
    path = tmp_path / "figures.json"
    assert figures.per_core_rates(path) == {}
    figures.save({"throughput": {"projectors": {"lake": {"ours_per_core": 1234}}}}, path)
    figures.save({"memory": {"lake": {}}}, path)
    assert figures.per_core_rates(path) == {"lake": 1234}
    assert set(json.loads(path.read_text())) == {"throughput", "memory"}


def test_cli_quick_json(capsys):
    from cqrs.commands import bench as cmd

    p = argparse.ArgumentParser()
    cmd.register(p.add_subparsers())
    args = p.parse_args(["bench", "--json", "--only", "throughput", "--records", "60"])
    args.quick = True
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["throughput"]["projectors"]) == {"lake", "search", "warehouse"}
    assert out["machine"]["nproc"] >= 1 and out["command"].startswith("cqrs bench")


def test_cli_all_runs_every_section_and_refuses_only_beside_it(capsys):
    from cqrs.commands import bench as cmd

    p = argparse.ArgumentParser()
    cmd.register(p.add_subparsers())
    assert cmd.sections(p.parse_args(["bench", "--all"])) == cmd.SECTIONS  # what make bench runs
    assert cmd.sections(p.parse_args(["bench"])) == cmd.DEFAULT
    assert cmd.sections(p.parse_args(["bench", "--only", "api", "--only", "e2e"])) == ("api", "e2e")
    with pytest.raises(SystemExit):
        p.parse_args(["bench", "--all", "--only", "api"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_all_runs_the_talks_rate_for_five_minutes_then_the_rate_search():
    from cqrs.commands import bench as cmd

    p = argparse.ArgumentParser()
    cmd.register(p.add_subparsers())

    def plan(*argv: str) -> list[tuple[str, str, bool]]:
        return [(key, section, a.full) for key, section, a in cmd.steps(p.parse_args(["bench", *argv]))]

    assert plan("--all") == [("throughput", "throughput", False), ("memory", "memory", False),
                             ("e2e_full", "e2e", True), ("e2e", "e2e", False), ("replay", "replay", False),
                             ("api", "api", False), ("index", "index", False)]
    assert ("e2e_full", "e2e", True) not in plan("--all", "--quick")  # a smoke test stays seconds
    assert plan("--only", "e2e", "--full") == [("e2e_full", "e2e", True)]
    assert plan("--only", "e2e") == [("e2e", "e2e", False)]
