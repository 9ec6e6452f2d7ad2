"""The warehouse projector: a Kinesis Lambda event of changes -> Redshift star schema.

Batches of plain Orders/Transactions changes take the columnar path (warehouse/columnar.py: parsed,
deduplicated and cast by Arrow, staged by COPY ... FORMAT csv), proven to land the same rows; any
other batch, and any batch whose columnar load fails, takes the per-event path:
decode -> micro-batches (Settings.warehouse_batch_size) -> staging rows (pure, highest version per
key) -> one transaction per micro-batch: stage, dedupe, version-guarded MERGE per table. A change
the warehouse refuses is isolated by bisection; it and every undecodable record go to
s3://<failures_bucket>/warehouse/... with payload and reason, and into `batchItemFailures` (as the
search projector does: the mapping retries, then its on-failure destination keeps the batch).
A transient warehouse error (unreachable, aborted) is waited out: the changes not yet applied are
loaded again with backoff while the invocation has time (projections.retry; the MERGEs are
version-guarded, so applying a change twice is harmless); only what is still not applied then goes
into `batchItemFailures`, and the mapping delivers it again: back-pressure, not parking.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cqrs.settings import Settings
from cqrs.warm import reused
from ingestion.change_event import decode_lambda_event
from projections import retry
from projections.failures import raw_records, send_to_failures
from projections.warehouse import columnar
from projections.warehouse.adapters import Warehouse, from_settings
from projections.warehouse.projector import Outcome, project

log = logging.getLogger(__name__)
FAILURE_PREFIX = "warehouse/"

_clients: dict[str, tuple[Warehouse, Any]] = {}


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    warehouse, s3 = reused(_clients, "warehouse", lambda: (from_settings(settings), settings.boto3_client("s3")))
    return process(event, warehouse=warehouse, s3=s3, settings=settings, wait_s=retry.wait_budget(context, settings))


def process(event: Mapping[str, Any], *, warehouse: Warehouse, s3: Any, settings: Settings,
            wait_s: float | None = None) -> dict[str, Any]:
    try:
        fast = columnar.project(warehouse, event, settings.table_prefix, settings.warehouse_batch_size)
    except Exception as e:  # noqa: BLE001 - e.g. the warehouse is down: the per-event path below waits it out
        log.warning("warehouse projector: columnar load failed (%s: %s), taking the per-event path",
                    type(e).__name__, e)
        fast = None
    if fast is not None:  # every record applied (the MERGEs are version-guarded: a re-run is harmless)
        log.info("warehouse projector: %d records applied columnar in %d loads", fast.applied, fast.loads)
        return {"batchItemFailures": []}
    raw = raw_records(event)
    decoded = decode_lambda_event(event, prefix=settings.table_prefix)
    failed: dict[str, dict[str, Any]] = {}
    for f in decoded.failures:
        failed[f.item_identifier] = {"reason": f"undecodable record: {f.reason}", "record": f.record}

    out = Outcome(retry=list(decoded.events))

    def attempt() -> Outcome:  # load what is not applied yet; the totals add up across attempts
        step = project(warehouse, out.retry, settings.warehouse_batch_size, settings.warehouse_batch_interval_s)
        out.applied += step.applied
        out.loads += step.loads
        out.failed += step.failed
        out.retry, out.retry_reason = step.retry, step.retry_reason
        return out

    if out.retry:
        retry.until(attempt, lambda o: not o.retry, retry.wait_budget(None, settings) if wait_s is None else wait_s,
                    what="warehouse load", reason=lambda o: o.retry_reason)
    for ch, reason in out.failed:
        failed[ch.item_identifier] = {"reason": reason, "event": ch}
    for ident, info in failed.items():
        send_to_failures(s3, settings.failures_bucket, FAILURE_PREFIX, "warehouse-projector", ident, raw.get(ident, info.get("record")), info)
    again = {ch.item_identifier for ch in out.retry}
    if again:
        log.warning("warehouse projector: %d changes to retry: %s", len(again), out.retry_reason)
    log.info("warehouse projector: %d records, %d applied in %d loads, %d failed, %d to retry",
             len(raw) or len(decoded.events), out.applied, out.loads, len(failed), len(again))
    idents = list(failed) + sorted(again - set(failed))
    return {"batchItemFailures": [{"itemIdentifier": i} for i in idents]}
