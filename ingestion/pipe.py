"""Function "event-pipe": changes from the `changes` Kinesis stream -> domain events on the
EventBridge bus (an EventBridge Pipe with enrichment in AWS). `services.events.to_domain_events`
owns which change means which event; this handler only decodes, puts, and reports failures.

A record is reported in `batchItemFailures` when it cannot be decoded (terminal: after the mapping's
retries it lands in the on-failure destination with its payload) or when PutEvents rejected one of
its events (FailedEntryCount; usually transient, so retried)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from cqrs.settings import Settings
from ingestion.change_event import decode_lambda_event

MAX_ENTRIES = 10  # PutEvents accepts at most 10 entries per call


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)  # exact: never through float
    if isinstance(v, (set, frozenset)):
        return sorted(v, key=str)
    if isinstance(v, bytes):
        import base64

        return base64.b64encode(v).decode()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise TypeError(f"cannot serialise {type(v).__name__} into an event detail")


def to_entry(ev: Any, bus: str) -> dict[str, Any]:
    """A domain event (a PutEvents entry dict, or an object with source/detail_type/detail) -> entry."""
    if isinstance(ev, Mapping):
        entry = dict(ev)
    elif hasattr(ev, "to_entry"):
        entry = dict(ev.to_entry())
    else:
        entry = {"Source": ev.source, "DetailType": ev.detail_type, "Detail": ev.detail}
        if getattr(ev, "resources", None):
            entry["Resources"] = list(ev.resources)
    if not isinstance(entry.get("Detail"), str):
        entry["Detail"] = json.dumps(entry.get("Detail") or {}, default=_json_default, sort_keys=True)
    entry.setdefault("EventBusName", bus)
    return entry


def put_events(client: Any, entries: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Put (record id, entry) pairs; returns the record ids whose entries PutEvents rejected."""
    failed: set[str] = set()
    for i in range(0, len(entries), MAX_ENTRIES):
        chunk = entries[i:i + MAX_ENTRIES]
        resp = client.put_events(Entries=[e for _, e in chunk])
        if resp.get("FailedEntryCount", 0):
            for (rid, _), res in zip(chunk, resp.get("Entries", [])):
                if res.get("ErrorCode"):
                    failed.add(rid)
    return failed


def handle(event: dict[str, Any], context: Any, *, events_client: Any = None,
           settings: Settings | None = None, mapper: Any = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    if mapper is None:
        from services.events import to_domain_events as mapper  # engineer A's module, imported lazily
    client = events_client or settings.boto3_client("events")
    batch = decode_lambda_event(event, prefix=settings.table_prefix)
    failed: list[str] = [f.item_identifier for f in batch.failures]
    for f in batch.failures:
        print(f"event-pipe: undecodable record {f.item_identifier or '(no id)'}: {f.reason}", flush=True)
    entries: list[tuple[str, dict[str, Any]]] = []
    for change in batch.events:
        evs: Iterable[Any] = mapper(change) or ()
        entries.extend((change.item_identifier, to_entry(ev, settings.event_bus)) for ev in evs)
    rejected = put_events(client, entries)
    seen = set(failed)
    failed.extend(i for i in (c.item_identifier for c in batch.events) if i in rejected and i not in seen)
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
