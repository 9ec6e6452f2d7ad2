"""Pipeline-health signals: freshness per read model, runner lag, records set aside, and
reconciliation. Each returns PanelData; a signal that cannot be read says why in its rows or error."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cqrs.settings import Settings
from dashboards.render import PanelData

SQL_DIR = Path(__file__).resolve().parent / "sql"


def _ts(v: Any) -> datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(v))  # Python 3.11 reads a trailing "Z"


def _seconds(delta_s: float) -> Decimal:
    return Decimal(str(round(max(delta_s, 0.0), 3)))


def newest_command_write(settings: Settings) -> datetime | None:
    """The newest order write on the command side: a projected scan of UpdatedAt (cheap on the
    local stack and small tables; in AWS the runner's iterator age is the scalable measure)."""
    ddb = settings.boto3_client("dynamodb")
    newest: str | None = None
    for page in ddb.get_paginator("scan").paginate(TableName=settings.table("Orders"),
                                                   ProjectionExpression="UpdatedAt"):
        for item in page["Items"]:
            v = item.get("UpdatedAt", {}).get("S")
            if v and (newest is None or v > newest):
                newest = v
    return _ts(newest)


def freshness(settings: Settings, engine: str) -> PanelData:
    from dashboards.sources import run_sql

    rows: list[tuple[Any, ...]] = []
    cols = ["read_model", "lag_seconds", "measured_by", "newest_write"]
    # lake: its own columns say when each change was written and when it landed
    _, r = run_sql(settings, "athena", (SQL_DIR / "freshness_lake.sql").read_text())
    newest, lag_ms = r[0] if r else (None, None)
    rows.append(("lake", _seconds(float(lag_ms or 0) / 1000), "ingested_at - event_time (newest hour)",
                 (_ts(newest) or "").__str__()))
    # search and warehouse: newest command-side write vs newest write they show
    source = newest_command_write(settings)
    _, r = run_sql(settings, "redshift", (SQL_DIR / "freshness_warehouse.sql").read_text())
    rows.append(_behind("warehouse", source, _ts(r[0][0]) if r else None))
    rows.append(_behind("search", source, _newest_search_order(settings)))
    return PanelData(cols, rows)


def _behind(model: str, source: datetime | None, visible: datetime | None) -> tuple[Any, ...]:
    if source is None:
        return (model, Decimal(0), "no command-side writes yet", "")
    lag = (source - visible).total_seconds() if visible else (datetime.now(UTC) - source).total_seconds()
    return (model, _seconds(lag), "newest command write - newest visible updated_at", source.isoformat())


def _newest_search_order(settings: Settings) -> datetime | None:
    from dashboards.search import client
    from projections.search.mappings import alias_name

    resp = client(settings).search(index=alias_name("orders", settings.table_prefix), body={
        "size": 1, "sort": [{"updated_at": "desc"}], "_source": ["updated_at"]})
    hits = resp["hits"]["hits"]
    return _ts(hits[0]["_source"]["updated_at"]) if hits else None


def runner_status_files(settings: Settings) -> list[Path]:
    d = settings.state_dir / "runner"
    return sorted(p for p in d.glob("*.json") if p.name != "faults.json") if d.exists() else []


def runner_lag(settings: Settings, engine: str = "") -> PanelData:
    """Per-mapping lag from the local runner's status file(s) under <state_dir>/runner/."""
    files = runner_status_files(settings)
    if not files:
        raise FileNotFoundError(f"no runner status under {settings.state_dir / 'runner'} (is the runner running?)")
    rows: list[tuple[Any, ...]] = []
    for f in files:
        doc = json.loads(f.read_text())
        maps = doc.get("mappings", doc)
        items = maps.items() if isinstance(maps, dict) else ((m.get("name") or m.get("uuid"), m) for m in maps)
        for name, m in items:
            if not isinstance(m, dict):
                continue
            lag = _lag_seconds(m)
            if lag is not None:
                rows.append((str(name), lag, str(m.get("state", m.get("status", "")))))
    return PanelData(["mapping", "lag_seconds", "state"], sorted(rows))


def _lag_seconds(m: dict[str, Any]) -> Decimal | None:
    for key, scale in (("lag_seconds", 1), ("lag_s", 1), ("iterator_age_seconds", 1), ("lag_ms", 1000),
                       ("iterator_age_ms", 1000), ("lag", 1)):
        if m.get(key) is not None:
            return _seconds(float(m[key]) / scale)
    return None


def set_aside(settings: Settings, engine: str = "", s3: Any = None) -> PanelData:
    """Records in the on-failure bucket (AWS's invocation records, batchSize each), the failures
    queue, and objects in the lake's quarantine prefix."""
    s3 = s3 or settings.boto3_client("s3")
    counts: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.failures_bucket):
        for obj in page.get("Contents", []):
            parts = obj["Key"].split("/")
            place = f"on-failure s3: mapping {parts[2]}" if parts[:2] == ["aws", "lambda"] and len(parts) > 2 \
                else f"on-failure s3: {parts[0]}"
            counts[place] = counts.get(place, 0) + _batch_size(s3, settings.failures_bucket, obj["Key"])
    quarantined = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix="quarantine/"):
        quarantined += len(page.get("Contents", []))
    rows = sorted(counts.items()) + [("lake quarantine (objects)", quarantined)]
    try:
        sqs = settings.boto3_client("sqs")
        url = sqs.get_queue_url(QueueName=f"{settings.table_prefix}failures")["QueueUrl"]
        n = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        rows.append(("failures queue (messages)", int(n["Attributes"]["ApproximateNumberOfMessages"])))
    except Exception:  # noqa: BLE001, S110 - the queue is optional; its absence is not a failure count
        pass
    return PanelData(["place", "records"], rows)


def _batch_size(s3: Any, bucket: str, key: str) -> int:
    try:
        body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        info = body.get("KinesisBatchInfo") or body.get("DDBStreamBatchInfo") or {}
        return int(info.get("batchSize", 1))
    except (ValueError, AttributeError):
        return 1  # not an invocation record: count the object as one record


def reconciliation(settings: Settings, engine: str = "") -> PanelData:
    cols = ["read_model", "status", "detail"]
    try:
        import cqrs.reconcile as rec  # type: ignore[import-not-found]
    except ImportError:
        return PanelData(cols, [(m, "not run", "cqrs.reconcile is not part of this build")
                                for m in ("search", "lake", "warehouse")])
    last = getattr(rec, "last_report", None)
    if last is None:
        return PanelData(cols, [(m, "not run", "cqrs.reconcile has no last_report()")
                                for m in ("search", "lake", "warehouse")])
    report = last(settings) or {}
    if not report:
        return PanelData(cols, [(m, "not run", "no reconciliation report yet") for m in ("search", "lake", "warehouse")])
    return PanelData(cols, [(str(k), str(v.get("status", v) if isinstance(v, dict) else v),
                             json.dumps(v, default=str)[:200]) for k, v in sorted(report.items())])


SIGNALS = {"freshness": freshness, "runner_lag": runner_lag, "set_aside": set_aside,
           "reconciliation": reconciliation}


def fetch(settings: Settings, name: str, engine: str) -> PanelData:
    return SIGNALS[name](settings, engine)
