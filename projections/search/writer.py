"""Bulk writes to OpenSearch with every item result checked.

  2xx                   written
  409 version conflict  success: the index already holds this or a higher version (a duplicate or
                        a reordered stale change), which is exactly the state we want
  429, 5xx, no alias    transient (projections.retry): that item alone is retried with backoff and
                        jitter for as long as the caller's budget lasts (back-pressure), then reported
                        retryable so the event source mapping delivers it again
  other 4xx             terminal (strict-mapping rejection, unparsable value...): retrying cannot help

Callers pass at most one action per document id (the projector keeps each id's highest version),
so retrying only the failed items can never reorder two writes to the same id.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from projections import retry as retry_mod
from projections.search.documents import IndexAction, PreparedAction

Action = IndexAction | PreparedAction  # a document to index, or the same already serialized


@dataclass(frozen=True)
class ItemFailure:
    action: Action
    status: int
    reason: str
    retryable: bool


@dataclass
class WriteOutcome:
    written: list[Action] = field(default_factory=list)      # incl. 409s
    failed: list[ItemFailure] = field(default_factory=list)
    attempts: int = 0


def bulk_body(actions: list[Action]) -> list[Any] | str:
    """The bulk request as client.bulk takes it: the request body itself when every action is a
    PreparedAction of one batch (joined by Arrow, columnar.ArrowLines); else a list of lines, each a
    dict the client serializes, or for a PreparedAction the two lines already serialized (the
    serializer passes str through)."""
    prepared = [a for a in actions if isinstance(a, PreparedAction)]
    if prepared and len(prepared) == len(actions) and all(a.lines is prepared[0].lines for a in prepared):
        return prepared[0].lines.body([a.pos for a in prepared])
    body: list[Any] = []
    for a in actions:
        if type(a) is PreparedAction:
            body.append(a.meta)
            body.append(a.source)
            continue
        # require_alias: a missing alias is an error, never an auto-created index with a guessed mapping.
        body.append({"index": {"_index": a.index, "_id": a.id, "version": a.version,
                               "version_type": "external", "require_alias": True}})
        body.append(a.document)
    return body


class BulkWriter:
    def __init__(self, client: Any, max_attempts: int | None = None, base_delay: float = 0.1,
                 sleep: Callable[[float], None] = time.sleep, refresh: bool | str = False,
                 budget_s: float = retry_mod.DEFAULT_WAIT_S):
        # budget_s: how long transient items are retried in one `write` (the handler passes the
        # invocation's remaining time); max_attempts: an optional cap on bulk calls besides it.
        self.client = client
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.sleep = sleep
        self.refresh = refresh
        self.budget_s = budget_s

    def write(self, actions: list[Action], budget_s: float | None = None) -> WriteOutcome:
        ids = [a.key for a in actions]
        if len(ids) != len(set(ids)):
            raise ValueError("one action per document per bulk call (keep each id's highest version)")
        out = WriteOutcome()
        last: dict[tuple[str, str], ItemFailure] = {}

        def attempt(pending: list[Action]) -> list[Action]:
            out.attempts += 1
            retry: list[Action] = []
            for action, status, reason, err_type in self._send(pending):
                if 200 <= status < 300 or status == 409:
                    out.written.append(action)
                elif retry_mod.transient_status(status, err_type):
                    retry.append(action)
                    last[action.key] = ItemFailure(action, status, reason, True)
                else:
                    out.failed.append(ItemFailure(action, status, reason, False))
            pending[:] = retry
            return pending

        pending = list(actions)
        if pending:
            retry_mod.until(lambda: attempt(pending), lambda p: not p,
                            self.budget_s if budget_s is None else budget_s, what="search bulk",
                            base_s=self.base_delay, max_attempts=self.max_attempts, sleep=self.sleep)
        for action in pending:  # still transient when the budget ran out: the caller reports them
            f = last[action.key]
            out.failed.append(ItemFailure(action, f.status,
                                          f"{f.reason} (still failing after {out.attempts} attempts)", True))
        return out

    def _send(self, actions: list[Action]) -> list[tuple[Action, int, str, str]]:
        try:
            resp = self.client.bulk(body=bulk_body(actions), refresh=self.refresh)
        except OSConnectionError as e:  # includes timeouts: nothing known written, all retryable
            return [(a, 503, f"connection failed: {e}", "") for a in actions]
        except TransportError as e:
            status = e.status_code if isinstance(e.status_code, int) else 503
            return [(a, status, f"bulk request failed: {e.error}", str(e.error)) for a in actions]
        items = resp.get("items") or []
        if len(items) != len(actions):  # never guess which item a result belongs to
            return [(a, 502, f"bulk answered {len(items)} items for {len(actions)}", "") for a in actions]
        results = []
        for action, item in zip(actions, items):
            (res,) = item.values()
            status = int(res.get("status", 500))
            err = res.get("error")
            reason, err_type = "", ""
            if err:
                err_type = str(err.get("type", "error")) if isinstance(err, dict) else ""
                reason = f"{err_type}: {err.get('reason', '')}" if isinstance(err, dict) else str(err)
            results.append((action, status, reason, err_type))
        return results
