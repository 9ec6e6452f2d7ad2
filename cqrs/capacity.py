"""Capacity and cost model: from transactions per day to shards, Lambda concurrency, OpenSearch
nodes, Parquet files, Redshift RPUs and a monthly bill. Pure arithmetic, no I/O.

Every input is a named assumption in `Assumptions` (override any of them); prices are us-east-1
public on-demand list prices as the author knew them (PRICES_AS_OF), without free tiers, savings
plans or reserved capacity. Money is Decimal; rates and counts are exact integers or Decimals.
The mapping settings (batch size, parallelization factor) come from ingestion.functions.FUNCTIONS.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ingestion.functions import FUNCTIONS_BY_NAME

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12
HOURS_PER_MONTH = DAYS_PER_MONTH * 24
MIB = 1024 * 1024
GB = 1024**3

# Kinesis Data Streams per-shard write limits (AWS quotas).
SHARD_BYTES_PER_S = MIB
SHARD_RECORDS_PER_S = 1000

PRICES_AS_OF = "2025-06 (author's knowledge of the us-east-1 price pages; verify before budgeting)"


@dataclass(frozen=True)
class Prices:
    """USD, us-east-1, on-demand list prices (PRICES_AS_OF)."""

    ddb_write_per_million_wru: Decimal = Decimal("0.625")      # on-demand, after the Nov 2024 price cut
    ddb_storage_gb_month: Decimal = Decimal("0.25")
    ddb_kinesis_cdc_per_million: Decimal = Decimal("0.10")     # Kinesis Data Streams for DynamoDB CDC units
    kinesis_shard_hour: Decimal = Decimal("0.015")             # provisioned
    kinesis_put_per_million_units: Decimal = Decimal("0.014")  # 25 KB PUT payload units
    kinesis_extended_retention_shard_hour: Decimal = Decimal("0.02")  # 24 h -> 7 days
    kinesis_efo_consumer_shard_hour: Decimal = Decimal("0.015")
    kinesis_efo_gb: Decimal = Decimal("0.013")
    lambda_gb_second: Decimal = Decimal("0.0000166667")       # x86_64
    lambda_per_million_requests: Decimal = Decimal("0.20")
    opensearch_data_node_hour: Decimal = Decimal("0.167")     # r6g.large.search
    opensearch_master_node_hour: Decimal = Decimal("0.128")   # m6g.large.search
    opensearch_gp3_gb_month: Decimal = Decimal("0.122")
    s3_gb_month: Decimal = Decimal("0.023")
    s3_put_per_thousand: Decimal = Decimal("0.005")
    athena_per_tb: Decimal = Decimal(5)
    redshift_rpu_hour: Decimal = Decimal("0.375")


@dataclass(frozen=True)
class Assumptions:
    """Every number the model does not derive. Change them with `dataclasses.replace`."""

    changes_per_tx: Decimal = Decimal(2)          # item writes per business transaction (tx + payment/order/alert)
    avg_change_bytes: int = 1600              # a Kinesis record: both images + metadata of a ~600 B item
    item_kb: Decimal = Decimal("0.6")               # average DynamoDB item size
    gsi_writes_per_change: Decimal = Decimal("0.5") # half the writes land in a table with one GSI
    peak_factor: Decimal = Decimal(5)             # peak second vs the day's average
    shard_utilization: Decimal = Decimal("0.8")     # keep 20 % headroom per shard
    # Per-core projection rates (records/s on one vCPU): defaults for when nothing was measured;
    # `cqrs capacity` replaces them with what `cqrs bench --record` measured (bench/figures.json).
    rate_per_core: dict[str, int] = field(default_factory=lambda: {
        "lake-projector": 250_000, "warehouse-projector": 50_000, "search-projector": 20_000,
        "event-pipe": 50_000})
    lambda_mb_per_vcpu: int = 1769            # Lambda gives one full vCPU at 1,769 MB
    # Search
    search_docs_per_tx: Decimal = Decimal("1.5")    # documents indexed per transaction (tx, alert, order...)
    search_doc_bytes: int = 1024
    search_retention_days: int = 90
    search_replicas: int = 1
    search_overhead: Decimal = Decimal("1.45")      # AWS sizing guide: indexing overhead + OS reserve + free space
    search_node_storage_gb: int = 512         # EBS per r6g.large data node we plan for
    search_index_docs_per_s_per_node: int = 5_000
    search_master_nodes: int = 3
    # Lake
    parquet_bytes_per_change: int = 200       # compressed columnar bytes per change
    entities_per_batch: int = 3               # distinct entity partitions one lake batch writes
    target_parquet_mb: int = 128
    lake_retention_days: int = 365
    athena_tb_scanned_per_month: Decimal = Decimal(1)
    # Warehouse
    redshift_rows_per_rpu_s: int = 2_000      # staged rows MERGEd per RPU-second
    redshift_base_rpu: int = 8                # the smallest base capacity
    redshift_merge_interval_s: int = 60       # one MERGE cycle a minute (billed >= 60 s each)


@dataclass(frozen=True)
class ConsumerPlan:
    name: str
    mapping_concurrency: int   # shards x parallelization factor: what the mapping will run
    needed_concurrency: int    # what the per-core rate needs at peak
    sufficient: bool
    invocations_per_day: int
    gb_seconds_per_day: Decimal


@dataclass(frozen=True)
class Plan:
    tx_per_day: int
    changes_per_day: int
    avg_changes_per_s: Decimal
    peak_changes_per_s: Decimal
    peak_mib_per_s: Decimal
    shards: int
    consumers: tuple[ConsumerPlan, ...]
    search_storage_gb: Decimal
    search_data_nodes: int
    parquet_files_per_day: int
    parquet_gb_per_day: Decimal
    compaction_every_hours: int
    redshift_rpu: int
    redshift_rpu_hours_per_day: Decimal
    ddb_wru_per_day: int
    monthly_cost: dict[str, Decimal]
    prices_as_of: str = PRICES_AS_OF

    @property
    def monthly_total(self) -> Decimal:
        return sum(self.monthly_cost.values(), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["monthly_total"] = self.monthly_total
        return _jsonable(d)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _ceil(x: Decimal) -> int:
    return int(x.to_integral_value(rounding="ROUND_CEILING"))


def _cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def shards_needed(peak_records_per_s: Decimal, avg_record_bytes: int, utilization: Decimal) -> int:
    """Shards for a peak write rate: whichever of 1 MiB/s or 1,000 records/s per shard binds."""
    by_bytes = peak_records_per_s * avg_record_bytes / (SHARD_BYTES_PER_S * utilization)
    by_records = peak_records_per_s / (SHARD_RECORDS_PER_S * utilization)
    return max(1, _ceil(max(by_bytes, by_records)))


def plan(tx_per_day: int, a: Assumptions | None = None, p: Prices | None = None) -> Plan:
    if tx_per_day <= 0:
        raise ValueError(f"tx_per_day must be positive, got {tx_per_day}")
    a = a or Assumptions()
    p = p or Prices()
    changes_day = _ceil(Decimal(tx_per_day) * a.changes_per_tx)
    avg_rps = Decimal(changes_day) / SECONDS_PER_DAY
    peak_rps = avg_rps * a.peak_factor
    shards = shards_needed(peak_rps, a.avg_change_bytes, a.shard_utilization)

    consumers = []
    for name, rate in a.rate_per_core.items():
        fn = FUNCTIONS_BY_NAME[name]
        m = next(m for m in fn.mappings if m.kind == "kinesis")
        vcpus = Decimal(fn.memory_mb) / a.lambda_mb_per_vcpu
        per_invocation_rps = Decimal(rate) * min(vcpus, Decimal(1))  # a Python handler uses one core
        needed = max(1, _ceil(peak_rps / per_invocation_rps))
        mapping = shards * m.parallelization_factor
        # Invocations: a batch closes at batch_size records or when the window elapses (per shard
        # and parallel lane), whichever comes first.
        lanes = shards * m.parallelization_factor
        by_size = _ceil(Decimal(changes_day) / m.batch_size)
        by_window = lanes * SECONDS_PER_DAY // max(1, m.maximum_batching_window_in_seconds) \
            if m.maximum_batching_window_in_seconds else by_size
        invocations = max(by_size, min(by_window, changes_day))
        busy_s = Decimal(changes_day) / per_invocation_rps
        consumers.append(ConsumerPlan(name, mapping, needed, mapping >= needed, invocations,
                                      _cents(busy_s * Decimal(fn.memory_mb) / 1024)))

    # Search: live documents over the retention, replicated, with the sizing guide's overhead.
    docs_day = Decimal(tx_per_day) * a.search_docs_per_tx
    search_gb = docs_day * a.search_retention_days * a.search_doc_bytes * (1 + a.search_replicas) \
        * a.search_overhead / GB
    peak_docs = docs_day / SECONDS_PER_DAY * a.peak_factor
    nodes = max(2, _ceil(search_gb / a.search_node_storage_gb),
                _ceil(peak_docs * (1 + a.search_replicas) / a.search_index_docs_per_s_per_node))
    nodes += nodes % 2  # two AZs: an even count

    # Lake: a file per entity partition per lake invocation; compact when an entity's day of small
    # files would make target-sized files.
    lake = next(c for c in consumers if c.name == "lake-projector")
    files_day = lake.invocations_per_day * a.entities_per_batch
    parquet_gb_day = Decimal(changes_day) * a.parquet_bytes_per_change / GB
    per_entity_mb_per_hour = Decimal(changes_day) * a.parquet_bytes_per_change / MIB / 24 / a.entities_per_batch
    hours = 24 if per_entity_mb_per_hour == 0 else _ceil(Decimal(a.target_parquet_mb) / per_entity_mb_per_hour)
    compaction_hours = min(24, max(1, hours))

    # Warehouse: MERGE work at peak sets the base RPU (multiples of 8); billing is per active second,
    # at least 60 s per cycle, and cycles run all day.
    rpu = max(a.redshift_base_rpu, 8 * _ceil(peak_rps / a.redshift_rows_per_rpu_s / 8))
    work_rpu_s = Decimal(changes_day) / a.redshift_rows_per_rpu_s
    floor_rpu_s = Decimal(SECONDS_PER_DAY // a.redshift_merge_interval_s) * 60 * rpu
    rpu_hours_day = max(work_rpu_s, floor_rpu_s) / 3600

    wru_per_change = max(1, _ceil(a.item_kb))
    wru_day = _ceil(Decimal(changes_day) * wru_per_change * (1 + a.gsi_writes_per_change))

    month = DAYS_PER_MONTH
    ingest_gb_day = Decimal(changes_day) * a.avg_change_bytes / GB
    put_units_day = Decimal(changes_day) * max(1, _ceil(Decimal(a.avg_change_bytes) / 25_600))
    efo_consumers = len(a.rate_per_core)
    cost = {
        "dynamodb_writes": Decimal(wru_day) * month * p.ddb_write_per_million_wru / 1_000_000,
        "dynamodb_storage": Decimal(tx_per_day) * 365 * a.item_kb / 1024 / 1024 * p.ddb_storage_gb_month,  # a year kept
        "dynamodb_to_kinesis_cdc": Decimal(changes_day) * _ceil(a.item_kb) * month * p.ddb_kinesis_cdc_per_million
        / 1_000_000,
        "kinesis_shards": shards * HOURS_PER_MONTH * (p.kinesis_shard_hour
                                                      + p.kinesis_extended_retention_shard_hour),
        "kinesis_puts": put_units_day * month * p.kinesis_put_per_million_units / 1_000_000,
        "kinesis_efo": efo_consumers * shards * HOURS_PER_MONTH * p.kinesis_efo_consumer_shard_hour
        + efo_consumers * ingest_gb_day * month * p.kinesis_efo_gb,
        "lambda": sum((c.gb_seconds_per_day * p.lambda_gb_second
                       + Decimal(c.invocations_per_day) * p.lambda_per_million_requests / 1_000_000
                       for c in consumers), Decimal(0)) * month,
        "opensearch": (nodes * p.opensearch_data_node_hour + a.search_master_nodes * p.opensearch_master_node_hour)
        * HOURS_PER_MONTH + Decimal(nodes * a.search_node_storage_gb) * p.opensearch_gp3_gb_month,
        "s3_lake": parquet_gb_day * a.lake_retention_days * p.s3_gb_month
        + Decimal(files_day) * month * p.s3_put_per_thousand / 1000,
        "athena": a.athena_tb_scanned_per_month * p.athena_per_tb,
        "redshift_serverless": rpu_hours_day * month * p.redshift_rpu_hour,
    }
    return Plan(
        tx_per_day=tx_per_day, changes_per_day=changes_day, avg_changes_per_s=_cents(avg_rps),
        peak_changes_per_s=_cents(peak_rps), peak_mib_per_s=_cents(peak_rps * a.avg_change_bytes / MIB),
        shards=shards, consumers=tuple(consumers), search_storage_gb=_cents(search_gb), search_data_nodes=nodes,
        parquet_files_per_day=files_day, parquet_gb_per_day=_cents(parquet_gb_day),
        compaction_every_hours=compaction_hours, redshift_rpu=rpu, redshift_rpu_hours_per_day=_cents(rpu_hours_day),
        ddb_wru_per_day=wru_day, monthly_cost={k: _cents(v) for k, v in cost.items()})


def with_rates(a: Assumptions, **rates: int) -> Assumptions:
    """Assumptions with some per-core rates replaced (e.g. measured ones from BENCHMARKS.md)."""
    return replace(a, rate_per_core={**a.rate_per_core, **rates})


def markdown_table(plans: list[Plan]) -> str:
    """The docs/capacity.md table: one column per volume."""
    def fmt(n: int) -> str:
        return f"{n / 1e9:g}B" if n >= 1e9 else f"{n / 1e6:g}M"

    head = "| | " + " | ".join(f"{fmt(x.tx_per_day)} tx/day" for x in plans) + " |"
    rows = [head, "|---|" + "---|" * len(plans)]

    def row(label: str, values: list[Any]) -> None:
        rows.append(f"| {label} | " + " | ".join(str(v) for v in values) + " |")

    row("changes/day", [f"{x.changes_per_day:,}" for x in plans])
    row("peak changes/s", [f"{x.peak_changes_per_s:,}" for x in plans])
    row("peak MiB/s into the stream", [x.peak_mib_per_s for x in plans])
    row("Kinesis shards", [x.shards for x in plans])
    for i, c in enumerate(plans[0].consumers):
        row(f"{c.name}: mapping / needed concurrency",
            [f"{x.consumers[i].mapping_concurrency} / {x.consumers[i].needed_concurrency}"
             + ("" if x.consumers[i].sufficient else " (raise PF)") for x in plans])
    row("OpenSearch storage GB / data nodes", [f"{x.search_storage_gb:,} / {x.search_data_nodes}" for x in plans])
    row("Parquet files/day (before compaction)", [f"{x.parquet_files_per_day:,}" for x in plans])
    row("Parquet GB/day", [x.parquet_gb_per_day for x in plans])
    row("compaction every (h)", [x.compaction_every_hours for x in plans])
    row("Redshift base RPU / RPU-h per day", [f"{x.redshift_rpu} / {x.redshift_rpu_hours_per_day:,}" for x in plans])
    row("DynamoDB WRU/day", [f"{x.ddb_wru_per_day:,}" for x in plans])
    for k in plans[0].monthly_cost:
        row(f"$ {k}", [f"{x.monthly_cost[k]:,}" for x in plans])
    row("**$ per month**", [f"**{x.monthly_total:,}**" for x in plans])
    return "\n".join(rows)

