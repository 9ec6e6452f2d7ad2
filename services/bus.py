"""InlineBus: the choreographed saga in-process and synchronously, for unit tests and
`cqrs load --saga inline`. It derives the domain events from each write exactly as the event pipe
derives them from the stream (`services.events.to_domain_events`), routes them with the same
EventBridge rules (`services.rules.RULES`) and runs the same step functions (`services.steps`).

It can deliver an event twice on purpose (`duplicate_rate`) to show that every step absorbs a
redelivery. A step that keeps failing is kept in `failed` with its reason (never dropped).
"""
from __future__ import annotations

import json
import random
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cqrs.resources import TABLES_BY_NAME
from ingestion.change_event import ChangeEvent
from services import steps
from services.common import iso
from services.errors import ServiceError
from services.events import to_domain_events
from services.rules import RULES, matches
from services.store import Change

QUEUE_STEPS = {"saga-steps": steps.SAGA_STEPS, "second-look": steps.SECOND_LOOK_STEPS}
_NS = uuid.UUID("6f1c3a52-8a36-4c1e-9a5e-0e2f1f6f2b10")


def envelope(entry: dict[str, Any], region: str = "us-east-1", account: str = "000000000000",
             now: datetime | None = None) -> dict[str, Any]:
    """The EventBridge event a PutEvents entry becomes (what a rule delivers to SQS)."""
    eid = uuid.uuid5(_NS, entry["Source"] + entry["DetailType"] + entry["Detail"])
    return {"version": "0", "id": str(eid), "detail-type": entry["DetailType"], "source": entry["Source"],
            "account": account, "time": iso(now or datetime.now(UTC))[:19] + "Z", "region": region,
            "resources": entry.get("Resources", []), "detail": json.loads(entry["Detail"])}


def change_event(c: Change, seq: int) -> ChangeEvent:
    image = c.new_image if c.new_image is not None else c.old_image or {}
    version = int(image.get("Version", 0)) + (1 if c.operation == "REMOVE" else 0)
    return ChangeEvent(table=c.table, entity=TABLES_BY_NAME[c.table].entity_for(c.key), key=c.key,
                       operation=c.operation, version=version, new_image=c.new_image, old_image=c.old_image,
                       approximate_creation_time=datetime.now(UTC), sequence_number=str(seq),
                       event_id=str(seq))


@dataclass
class BusStats:
    events: int = 0
    deliveries: int = 0
    duplicates: int = 0
    duplicates_absorbed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class InlineBus:
    def __init__(self, duplicate_rate: float = 0.0, seed: int = 0, attempts: int = 3):
        self.svc: steps.Services | None = None
        self.duplicate_rate = duplicate_rate
        self.rng = random.Random(seed)
        self.attempts = attempts
        self.stats = BusStats()
        self.failed: list[tuple[dict[str, Any], str]] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._seq = 0

    def attach(self, svc: steps.Services) -> InlineBus:
        self.svc = svc
        svc.store.listener = self.on_change
        return self

    def on_change(self, c: Change) -> None:
        with self._lock:
            self._seq += 1
            seq = self._seq
        q: deque[dict[str, Any]] | None = getattr(self._local, "queue", None)
        outermost = q is None
        if q is None:
            q = self._local.queue = deque()
        for entry in to_domain_events(change_event(c, seq)):
            q.append(envelope(entry))
        if outermost:
            # Dispatch after the command's write returned, breadth first, like a queue would.
            try:
                while q:
                    self._deliver(q.popleft())
            finally:
                self._local.queue = None

    def _deliver(self, env: dict[str, Any]) -> None:
        assert self.svc is not None, "attach the bus to the services first"
        with self._lock:
            self.stats.events += 1
            self.stats.by_type[env["detail-type"]] = self.stats.by_type.get(env["detail-type"], 0) + 1
            dup = self.duplicate_rate > 0 and self.rng.random() < self.duplicate_rate
        for rule in RULES:
            if not matches(rule.event_pattern, env):
                continue
            self._run(QUEUE_STEPS[rule.queue], env)
            if dup:
                changed = self._run(QUEUE_STEPS[rule.queue], env)
                with self._lock:
                    self.stats.duplicates += 1
                    self.stats.duplicates_absorbed += 0 if changed else 1

    def _run(self, table: dict[str, Any], env: dict[str, Any]) -> bool:
        assert self.svc is not None
        for attempt in range(self.attempts):
            try:
                with self._lock:
                    self.stats.deliveries += 1
                return steps.run(table, self.svc, env)
            except ServiceError as e:
                if not e.retryable or attempt == self.attempts - 1:
                    self.failed.append((env, f"{type(e).__name__}: {e}"))
                    return False
        return False
