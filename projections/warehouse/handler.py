"""The warehouse projector: a Kinesis Lambda event of changes -> Redshift star schema.

decode -> micro-batches (Settings.warehouse_batch_size) -> staging rows (pure, highest version per
key) -> one transaction per micro-batch: stage, dedupe, version-guarded MERGE per table. A change
the warehouse refuses is isolated by bisection; it and every undecodable record go to
s3://<failures_bucket>/warehouse/... with payload and reason, and into `batchItemFailures` (as the
search projector does: the mapping retries, then its on-failure destination keeps the batch).
A transient warehouse error puts every change not yet applied into `batchItemFailures`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cqrs.settings import Settings
from ingestion.change_event import decode_lambda_event
from projections.failures import raw_records, send_to_failures
from projections.warehouse.adapters import Warehouse, from_settings
from projections.warehouse.projector import project

log = logging.getLogger(__name__)
FAILURE_PREFIX = "warehouse/"

_clients: dict[str, Any] = {}


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    if "warehouse" not in _clients:  # reused across warm invocations; created on first use, not import
        _clients["warehouse"] = from_settings(settings)
        _clients["s3"] = settings.boto3_client("s3")
    return process(event, warehouse=_clients["warehouse"], s3=_clients["s3"], settings=settings)


def process(event: Mapping[str, Any], *, warehouse: Warehouse, s3: Any, settings: Settings) -> dict[str, Any]:
    raw = raw_records(event)
    decoded = decode_lambda_event(event, prefix=settings.table_prefix)
    failed: dict[str, dict[str, Any]] = {}
    for f in decoded.failures:
        failed[f.item_identifier] = {"reason": f"undecodable record: {f.reason}", "record": f.record}

    out = project(warehouse, decoded.events, settings.warehouse_batch_size, settings.warehouse_batch_interval_s)
    for ch, reason in out.failed:
        failed[ch.item_identifier] = {"reason": reason, "event": ch}
    for ident, info in failed.items():
        send_to_failures(s3, settings.failures_bucket, FAILURE_PREFIX, "warehouse-projector", ident, raw.get(ident, info.get("record")), info)
    retry = {ch.item_identifier for ch in out.retry}
    if retry:
        log.warning("warehouse projector: %d changes to retry: %s", len(retry), out.retry_reason)
    log.info("warehouse projector: %d records, %d applied in %d loads, %d failed, %d to retry",
             len(raw) or len(decoded.events), out.applied, out.loads, len(failed), len(retry))
    idents = list(failed) + sorted(retry - set(failed))
    return {"batchItemFailures": [{"itemIdentifier": i} for i in idents]}
