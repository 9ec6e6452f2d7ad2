"""Create every resource of `cqrs.resources` on the local stack. Idempotent: existing resources are
kept, missing ones created. In AWS the CDK app creates them instead."""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cqrs.resources import QUEUES, TABLES
from cqrs.settings import Settings

# Other packages (saga state machine, warehouse schema, search templates...) register the steps
# that create their own resources; `provision_all` runs them after the base resources.
EXTRA_STEPS: list[tuple[str, str]] = [
    # (module, function) taking (settings); imported lazily so a missing optional part is clear.
    ("projections.search.admin", "provision"),  # search index templates, first indices, aliases
    ("search_api.keys", "create_table"),  # ApiKeys (hashed search API keys; not streamed)
    ("ingestion.rules", "provision"),  # EventBridge rules -> SQS targets, queues' DLQ (failures)
    ("projections.warehouse.adapters", "provision"),  # warehouse star schema, staging, views (Redshift SQL)
    ("services.orchestration", "provision"),  # the checkout saga state machine (Step Functions)
    ("projections.lake.store", "provision"),  # Glue change-log tables per entity (lake)
]


def provision_all(settings: Settings, fresh_moto: bool = True) -> None:
    if settings.aws_endpoint_url:
        enable_moto_stepfunctions(settings.aws_endpoint_url)
    create_tables(settings)
    create_stream(settings)
    create_bus_and_queues(settings)
    create_buckets(settings)
    create_glue_database(settings)
    if settings.warehouse_dsn:
        create_warehouse_database(settings.warehouse_dsn)
    import importlib

    for module, func in EXTRA_STEPS:
        step: Callable[[Settings], Any] = getattr(importlib.import_module(module), func)
        step(settings)


def enable_moto_stepfunctions(endpoint: str) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    req = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def create_tables(settings: Settings) -> None:
    ddb = settings.boto3_client("dynamodb")
    existing = set(ddb.list_tables()["TableNames"])
    for t in TABLES:
        name = settings.table(t.name)
        if name in existing:
            continue
        attrs = {t.hash_key, *([t.range_key] if t.range_key else [])}
        schema = [{"AttributeName": t.hash_key[0], "KeyType": "HASH"}]
        if t.range_key:
            schema.append({"AttributeName": t.range_key[0], "KeyType": "RANGE"})
        kwargs: dict[str, Any] = {}
        if t.indexes:
            gsis = []
            for ix in t.indexes:
                attrs.add(ix.hash_key)
                ks = [{"AttributeName": ix.hash_key[0], "KeyType": "HASH"}]
                if ix.range_key:
                    attrs.add(ix.range_key)
                    ks.append({"AttributeName": ix.range_key[0], "KeyType": "RANGE"})
                gsis.append({"IndexName": ix.name, "KeySchema": ks, "Projection": {"ProjectionType": "ALL"}})
            kwargs["GlobalSecondaryIndexes"] = gsis
        ddb.create_table(
            TableName=name,
            KeySchema=schema,
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": ty} for a, ty in sorted(attrs)],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            SSESpecification={"Enabled": True},
            **kwargs,
        )
        if t.ttl_attribute:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": t.ttl_attribute})


def create_stream(settings: Settings, shards: int = 2) -> None:
    kin = settings.boto3_client("kinesis")
    try:
        kin.create_stream(StreamName=settings.changes_stream, ShardCount=shards)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceInUseException":
            raise
    kin.get_waiter("stream_exists").wait(StreamName=settings.changes_stream,
                                         WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})


def queue_url(settings: Settings, name: str) -> str:
    return str(settings.boto3_client("sqs").get_queue_url(QueueName=f"{settings.table_prefix}{name}")["QueueUrl"])


def create_bus_and_queues(settings: Settings) -> None:
    events = settings.boto3_client("events")
    try:
        events.create_event_bus(Name=settings.event_bus)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    sqs = settings.boto3_client("sqs")
    for q in QUEUES:
        sqs.create_queue(QueueName=f"{settings.table_prefix}{q}", Attributes={"SqsManagedSseEnabled": "true"})


def create_buckets(settings: Settings) -> None:
    s3 = settings.boto3_client("s3")
    for b in (settings.lake_bucket, settings.failures_bucket):
        try:
            if settings.region == "us-east-1":
                s3.create_bucket(Bucket=b)
            else:
                s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": settings.region})
        except ClientError as e:
            if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


def create_glue_database(settings: Settings) -> None:
    glue = settings.boto3_client("glue")
    try:
        glue.create_database(DatabaseInput={"Name": settings.glue_database,
                                            "Description": "CQRS lake: change logs and current-state views"})
    except ClientError as e:
        if e.response["Error"]["Code"] != "AlreadyExistsException":
            raise


def create_warehouse_database(dsn: str) -> None:
    import psycopg

    admin = dsn.rsplit("/", 1)[0] + "/postgres"
    db = dsn.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as c:
        if not c.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
            c.execute(f'create database "{db}"')  # name comes from our own settings, not user text
