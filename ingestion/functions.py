"""Every Lambda function and its event source mappings, declared once.

The local runner (`ingestion.runner`) and the CDK app (`infra/`) both read this module, so a
mapping's settings cannot differ between the laptop and AWS. Field names follow the
`AWS::Lambda::EventSourceMapping` properties they become.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SourceKind = Literal["kinesis", "dynamodb", "sqs"]


@dataclass(frozen=True)
class OnFailure:
    """Where a batch that exhausted its retries goes: an S3 bucket (full invocation record) or an
    SQS queue (metadata only), named by settings attribute or queue name."""

    kind: Literal["s3", "sqs"]
    target: str  # "failures_bucket" (a Settings attribute) or a queue name from cqrs.resources.QUEUES


@dataclass(frozen=True)
class Mapping:
    kind: SourceKind
    source: str  # kinesis: Settings attribute naming the stream; dynamodb: table; sqs: queue name
    batch_size: int = 100
    maximum_batching_window_in_seconds: int = 0
    parallelization_factor: int = 1  # streams only: concurrent batches per shard
    bisect_batch_on_function_error: bool = True  # streams only
    maximum_retry_attempts: int = 3  # streams only (-1 = infinite)
    maximum_record_age_in_seconds: int = -1  # streams only (-1 = infinite)
    report_batch_item_failures: bool = True
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"
    on_failure: OnFailure | None = None
    # SQS only: how many receives before the message goes to the queue's DLQ.
    max_receive_count: int = 3
    # SQS only: ScalingConfig.MaximumConcurrency (2-1000). None: Lambda's own scaling, which starts at five
    # concurrent batches and adds more while a backlog lasts; the local runner does the same up to
    # LOCAL_MAX_BATCHES (ingestion.esm.sqs).
    maximum_concurrency: int | None = None

    def __post_init__(self) -> None:
        if self.maximum_concurrency is not None and (self.kind != "sqs" or not 2 <= self.maximum_concurrency <= 1000):
            raise ValueError(f"maximum_concurrency {self.maximum_concurrency} on a {self.kind} mapping of {self.source}: "
                             "SQS mappings only, 2-1000 (Lambda's ScalingConfig)")


@dataclass(frozen=True)
class Function:
    name: str
    handler: str  # "package.module:function"
    mappings: tuple[Mapping, ...]
    description: str = ""
    memory_mb: int = 512
    timeout_s: int = 60
    reserved_concurrency: int | None = None
    env: dict[str, str] = field(default_factory=dict)


_S3_FAILURES = OnFailure("s3", "failures_bucket")
# Projectors wait for a store that is down inside each invocation (projections.retry: up to the
# timeout less a margin), so these retries bound the outage a record survives unparked:
# (10 + 1) x ~54 s ~ 10 minutes at the 60 s timeout. A poison record is refused at once by every
# attempt, so it still reaches the on-failure destination after 10 quick retries.
_PROJECTOR_RETRIES = 10

FUNCTIONS: tuple[Function, ...] = (
    Function(
        "search-projector", "projections.search.handler:handle",
        # Window 0: invoked as soon as a poll returns records (search freshness is the goal, seconds);
        # on AWS a poll is ~1/s per shard, so this costs at most that many invocations per lane.
        # Parallelization 1: one lane per shard keeps up with far more than the talk's rate (BENCHMARKS.md
        # section 1), and half the lanes sends half the bulk requests, each twice the size, as OpenSearch
        # advises. Freshness did not move locally (search p99 at 116/s: 1.91-2.17 s with 1 lane, 2.09-2.19 s
        # with 2, BENCHMARKS.md section 2): osmem-server's segment merges stall the index either way.
        (Mapping("kinesis", "changes_stream", batch_size=500, maximum_batching_window_in_seconds=0,
                 parallelization_factor=1, maximum_retry_attempts=_PROJECTOR_RETRIES, maximum_record_age_in_seconds=3600,
                 on_failure=_S3_FAILURES),),
        "Changes -> OpenSearch documents (external versioning, soft deletes)",
    ),
    Function(
        "lake-projector", "projections.lake.handler:handle",
        (Mapping("kinesis", "changes_stream", batch_size=5000, maximum_batching_window_in_seconds=5,
                 parallelization_factor=1, maximum_retry_attempts=_PROJECTOR_RETRIES, on_failure=_S3_FAILURES),),
        "Changes -> Parquet change log on S3 + Glue partitions", memory_mb=1024,
    ),
    Function(
        "warehouse-projector", "projections.warehouse.handler:handle",
        (Mapping("kinesis", "changes_stream", batch_size=5000, maximum_batching_window_in_seconds=5,
                 parallelization_factor=1, maximum_retry_attempts=_PROJECTOR_RETRIES, on_failure=_S3_FAILURES),),
        "Changes -> Redshift staging -> version-guarded MERGE", memory_mb=1024,
    ),
    Function(
        "event-pipe", "ingestion.pipe:handle",
        # Two batches in flight per shard (order per item holds: one partition key, one lane), up to 500
        # changes each, put a few PutEvents calls at a time (ingestion.pipe): 116/s needs more than
        # one sequential call per 10 events.
        (Mapping("kinesis", "changes_stream", batch_size=500, maximum_batching_window_in_seconds=0,
                 parallelization_factor=2, maximum_retry_attempts=10, on_failure=_S3_FAILURES),),
        "Changes -> domain events on the EventBridge bus (an EventBridge Pipe with enrichment in AWS)",
    ),
    Function(
        "saga-steps", "services.handlers:saga_step",
        (Mapping("sqs", "saga-steps", batch_size=10),),
        "Choreographed checkout saga: each step reacts to the previous step's event",
    ),
    Function(
        "second-look", "services.handlers:second_look",
        (Mapping("sqs", "second-look", batch_size=10),),
        "Second Look rules on posted card transactions; raises alerts",
    ),
)

FUNCTIONS_BY_NAME = {f.name: f for f in FUNCTIONS}
