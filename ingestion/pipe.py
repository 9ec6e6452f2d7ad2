"""Function "event-pipe": changes from the `changes` Kinesis stream -> domain events on the
EventBridge bus (an EventBridge Pipe with enrichment in AWS). `services.events.to_domain_events`
owns which change means which event; this handler only decodes, puts, and reports failures.

A record is reported in `batchItemFailures` when it cannot be decoded (terminal: after the mapping's
retries it lands in the on-failure destination with its payload) or when PutEvents rejected one of
its events (FailedEntryCount; usually transient) and putting them again here did not help: the
mapping then retries from that record. Events go in calls of at most 10 entries and 256 KB, a few
calls at a time, so a batch of hundreds of changes costs a few round trips, not one per 10 events."""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from cqrs.settings import Settings
from cqrs.warm import reused
from ingestion import batching
from ingestion.change_event import decode_lambda_event

MAX_ENTRIES = 10  # PutEvents accepts at most 10 entries per call
MAX_CALL_BYTES = 256 * 1024  # ... and at most 256 KB per call, counted as below
PUT_CONCURRENCY = 4  # PutEvents calls in flight per invocation (boto3 clients are thread-safe)
PUT_RETRIES = 2  # rejected entries are put again this many times before their records are reported
RETRY_BASE_S = 0.05

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


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as PutEvents counts it against 256 KB (the documented calculation)."""
    n = 14 if entry.get("Time") is not None else 0
    for k in ("Source", "DetailType", "Detail"):
        n += len(str(entry.get(k) or "").encode())
    return n + sum(len(str(r).encode()) for r in entry.get("Resources") or ())


def chunks(entries: list[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """Split into calls of at most MAX_ENTRIES entries and MAX_CALL_BYTES. An entry that is too big
    on its own goes alone: PutEvents refuses it and its record is reported (never dropped)."""
    return batching.split(entries, lambda pair: entry_size(pair[1]), MAX_ENTRIES, MAX_CALL_BYTES)


def _put_chunk(client: Any, chunk: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any], str]]:
    """One PutEvents call; returns the (record id, entry, reason) it did not accept. A call that
    raised (throttled, network, validation) rejects all of its entries."""
    try:
        resp = client.put_events(Entries=[e for _, e in chunk])
    except Exception as e:  # noqa: BLE001 - reported against its records; the mapping retries them
        return [(rid, entry, f"PutEvents raised {type(e).__name__}: {e}") for rid, entry in chunk]
    if not resp.get("FailedEntryCount", 0):
        return []
    return [(rid, entry, f"{res.get('ErrorCode')}: {res.get('ErrorMessage', '')}")
            for (rid, entry), res in zip(chunk, resp.get("Entries", [])) if res.get("ErrorCode")]


def put_events(client: Any, entries: list[tuple[str, dict[str, Any]]], *, concurrency: int = PUT_CONCURRENCY,
               retries: int = PUT_RETRIES, sleep: Any = time.sleep) -> set[str]:
    """Put (record id, entry) pairs, up to `concurrency` calls at a time; entries PutEvents rejected
    are put again (only those) `retries` times. Returns the record ids still rejected after that.
    EventBridge does not order delivery, even within one call; consumers are order-insensitive per key
    (ARCHITECTURE.md invariant 2), so concurrent calls lose nothing."""
    todo = entries
    rejected: list[tuple[str, dict[str, Any], str]] = []
    for attempt in range(retries + 1):
        if attempt:
            sleep(RETRY_BASE_S * 2 ** (attempt - 1))
        calls = chunks(todo)
        if len(calls) > 1 and concurrency > 1:
            with ThreadPoolExecutor(min(concurrency, len(calls)), thread_name_prefix="put-events") as pool:
                results = list(pool.map(lambda c: _put_chunk(client, c), calls))
        else:
            results = [_put_chunk(client, c) for c in calls]
        rejected = [r for res in results for r in res]
        if not rejected:
            return set()
        todo = [(rid, entry) for rid, entry, _ in rejected]
    for rid, _, why in rejected[:5]:
        print(f"event-pipe: record {rid}: event rejected after {retries + 1} attempt(s): {why}", flush=True)
    if len(rejected) > 5:
        print(f"event-pipe: ... and {len(rejected) - 5} more rejected event(s)", flush=True)
    return {rid for rid, _, _ in rejected}


_clients: dict[tuple[Any, ...], Any] = {}


def _events_client(settings: Settings) -> Any:
    """Reused across warm invocations, as the projectors do (a client per invocation cost ~7% of the
    local runner's CPU and a new connection per call)."""
    return reused(_clients, (settings.aws_endpoint_url, settings.region), lambda: settings.boto3_client("events"))


def handle(event: dict[str, Any], context: Any, *, events_client: Any = None,
           settings: Settings | None = None, mapper: Any = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    if mapper is None:
        from services.events import to_domain_events as mapper  # engineer A's module, imported lazily
    client = events_client or _events_client(settings)
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
