"""The search projector: a Kinesis Lambda event of changes -> OpenSearch documents.

decode -> build (pure) -> keep each document's highest version -> bulk write (item results
checked) -> terminal failures to S3 (`search/` prefix) with payload and reason -> every failed
record's sequence number in `batchItemFailures`. An unreachable or busy OpenSearch is waited for
(projections.retry: backoff within the invocation's remaining time) before any record is given
back to the mapping: back-pressure, not parking. Nothing is dropped: a record is either written,
superseded by a higher version of the same aggregate in the same batch (its effect is contained in
that write), skipped by design (`mappings.SKIPPED_ENTITIES`), or reported.

Plain batches of Orders/Transactions changes skip the decode and build: `columnar.prepare` gives the
same actions already serialized (proven byte for byte, tests/unit/test_search_columnar.py); the
write, its per-item checks and the failure reports are the same; any other batch: None, per event.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cqrs.settings import Settings
from cqrs.warm import reused
from ingestion.change_event import ChangeEvent, decode_lambda_event
from projections import retry
from projections.failures import raw_records, send_to_failures
from projections.search import columnar
from projections.search.documents import BuildError, IndexAction, to_index_action
from projections.search.writer import BulkWriter

log = logging.getLogger(__name__)
FAILURE_PREFIX = "search/"

_clients: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    search, s3 = _clients_for(settings)
    return process(event, search=search, s3=s3, settings=settings, wait_s=retry.wait_budget(context, settings))


def _clients_for(settings: Settings) -> tuple[Any, Any]:
    from projections.search.client import make_client

    key = (settings.opensearch_url, settings.opensearch_auth, settings.aws_endpoint_url, settings.region)
    return reused(_clients, key, lambda: (make_client(settings), settings.boto3_client("s3")))


def process(event: Mapping[str, Any], *, search: Any, s3: Any, settings: Settings,
            writer: BulkWriter | None = None, wait_s: float | None = None) -> dict[str, Any]:
    """wait_s: how long to wait for OpenSearch to come back (default: Settings.store_wait_s or
    retry.DEFAULT_WAIT_S, as when there is no Lambda context)."""
    writer = writer or BulkWriter(search)
    if wait_s is None:
        wait_s = retry.wait_budget(None, settings)
    raw = raw_records(event)
    failed: dict[str, dict[str, Any]] = {}  # item identifier -> failure report (ordered)
    fast = columnar.prepare(event, settings.table_prefix)
    if fast is not None:  # a plain batch: the same actions, serialized by Arrow (search/columnar.py)
        records = len(fast.records)
        actions: list[Any] = fast.actions

        def change(key: tuple[str, str]) -> ChangeEvent:
            return fast.change(key, settings.table_prefix)
    else:
        batch = decode_lambda_event(event, prefix=settings.table_prefix)
        records = len(raw) or len(batch.events)
        for f in batch.failures:
            failed[f.item_identifier] = {"reason": f"undecodable record: {f.reason}", "status": None}

        # Build, then keep the highest version per document: one write per id per bulk call.
        best: dict[tuple[str, str], tuple[IndexAction, ChangeEvent]] = {}
        for ev in batch.events:
            try:
                action = to_index_action(ev, settings.table_prefix)
            except BuildError as e:
                failed[ev.item_identifier] = {"reason": f"cannot build document: {e}", "status": None, "event": ev}
                continue
            if action is None:
                continue
            cur = best.get(action.key)
            if cur is None or action.version > cur[0].version:
                best[action.key] = (action, ev)
        actions = [a for a, _ in best.values()]

        def change(key: tuple[str, str]) -> ChangeEvent:
            return best[key][1]

    outcome = writer.write(actions, budget_s=wait_s)
    for item in outcome.failed:
        ev = change(item.action.key)
        failed[ev.item_identifier] = {"reason": item.reason, "status": item.status, "event": ev,
                                      "document": item.action.document, "retryable": item.retryable}

    for ident, info in failed.items():
        if info.get("retryable"):
            continue  # Lambda retries it; after its retries the mapping's on-failure destination keeps it
        send_to_failures(s3, settings.failures_bucket, FAILURE_PREFIX, "search-projector", ident, raw.get(ident), info)

    log.info("search projector: %d records (%s), %d documents written, %d failed", records,
             "columnar" if fast is not None else "per event", len(outcome.written), len(failed))
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
