"""The capacity model's arithmetic and its monotonicity in volume and assumptions."""
from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from itertools import pairwise

import pytest

from cqrs.capacity import (
    SHARD_BYTES_PER_S,
    SHARD_RECORDS_PER_S,
    Assumptions,
    Prices,
    markdown_table,
    plan,
    shards_needed,
    with_rates,
)
from cqrs.cli import main
from ingestion.functions import FUNCTIONS_BY_NAME

VOLUMES = [10_000_000, 30_000_000, 100_000_000, 300_000_000, 1_000_000_000]


def test_shards_bind_on_whichever_limit_is_hit_first():
    # 900 small records/s: records bind (0.9 of 1000/s at full utilization -> 1 shard).
    assert shards_needed(Decimal(900), 100, Decimal(1)) == 1
    assert shards_needed(Decimal(1001), 100, Decimal(1)) == 2
    # 10 x 1 MiB/s worth of 100 KB records: bytes bind.
    rps = Decimal(10 * SHARD_BYTES_PER_S) / 100_000
    assert rps < SHARD_RECORDS_PER_S and shards_needed(rps, 100_000, Decimal(1)) == 10
    # Headroom: 80 % utilization needs 25 % more shards.
    assert shards_needed(Decimal(8000), 100, Decimal("0.8")) == 10


def test_ten_million_a_day_worked_example():
    p = plan(10_000_000)
    assert p.changes_per_day == 20_000_000                       # 2 changes per transaction
    assert p.avg_changes_per_s == Decimal("231.48")              # 20e6 / 86400
    assert p.peak_changes_per_s == Decimal("1157.41")            # x5 peak
    # 1157.4 rec/s x 1600 B = 1.77 MiB/s -> bytes bind: 1.77 / 0.8 -> 3 shards
    assert p.shards == 3
    search = next(c for c in p.consumers if c.name == "search-projector")
    assert search.mapping_concurrency == 3 * FUNCTIONS_BY_NAME["search-projector"].mappings[0].parallelization_factor
    assert p.ddb_wru_per_day == 30_000_000                       # 1 WRU + half a GSI write each
    assert p.monthly_cost["dynamodb_writes"] == Decimal("570.70")  # 30e6 x 30.4375 x $0.625/M
    assert p.monthly_total == sum(p.monthly_cost.values())
    assert all(isinstance(v, Decimal) for v in p.monthly_cost.values())


def test_everything_grows_with_volume():
    plans = [plan(v) for v in VOLUMES]
    for small, big in pairwise(plans):
        assert big.shards >= small.shards
        assert big.search_data_nodes >= small.search_data_nodes
        assert big.parquet_files_per_day >= small.parquet_files_per_day
        assert big.redshift_rpu >= small.redshift_rpu
        assert big.redshift_rpu_hours_per_day >= small.redshift_rpu_hours_per_day
        assert big.monthly_total > small.monthly_total
        for k in small.monthly_cost:
            assert big.monthly_cost[k] >= small.monthly_cost[k], k
        for c_small, c_big in zip(small.consumers, big.consumers):
            assert c_big.needed_concurrency >= c_small.needed_concurrency
            assert c_big.mapping_concurrency >= c_small.mapping_concurrency
    # A billion a day is not a small deployment: the stream needs hundreds of shards.
    assert plans[-1].shards > 100


@pytest.mark.parametrize("field,bigger", [("peak_factor", Decimal(10)), ("avg_change_bytes", 4000),
                                          ("changes_per_tx", Decimal(4))])
def test_heavier_assumptions_never_need_less(field, bigger):
    base = plan(100_000_000)
    heavy = plan(100_000_000, replace(Assumptions(), **{field: bigger}))
    assert heavy.shards >= base.shards and heavy.monthly_total >= base.monthly_total
    assert heavy.shards > base.shards or field == "changes_per_tx" and heavy.changes_per_day > base.changes_per_day


def test_slower_projection_needs_more_concurrency_and_is_flagged():
    slow = with_rates(Assumptions(), **{"search-projector": 100})
    p = plan(1_000_000_000, slow)
    search = next(c for c in p.consumers if c.name == "search-projector")
    assert search.needed_concurrency > search.mapping_concurrency and not search.sufficient
    assert "(raise PF)" in markdown_table([p])


def test_price_changes_flow_into_the_total():
    cheap = plan(10_000_000)
    dear = plan(10_000_000, p=replace(Prices(), redshift_rpu_hour=Decimal("0.75")))
    assert dear.monthly_cost["redshift_serverless"] == cheap.monthly_cost["redshift_serverless"] * 2
    assert dear.monthly_total - cheap.monthly_total == cheap.monthly_cost["redshift_serverless"]


def test_rejects_nonpositive_volume():
    with pytest.raises(ValueError):
        plan(0)


def test_cli_json_and_table(capsys):
    assert main(["capacity", "--tx-per-day", "10M", "--tx-per-day", "1B", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["tx_per_day"] for p in out["plans"]] == [10_000_000, 1_000_000_000]
    assert Decimal(out["plans"][1]["monthly_total"]) > Decimal(out["plans"][0]["monthly_total"])
    assert "as of" not in out["prices_as_of"] and out["prices_as_of"].startswith("20")
    assert main(["capacity", "--tx-per-day", "100000000"]) == 0
    table = capsys.readouterr().out
    assert "100M tx/day" in table and "Kinesis shards" in table and "prices:" in table
    assert main(["capacity", "--tx-per-day", "10M", "--peak-factor", "0.5"]) == 1
    with pytest.raises(SystemExit):
        main(["capacity", "--tx-per-day", "lots"])
