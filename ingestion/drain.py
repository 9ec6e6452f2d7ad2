"""Waiting until every mapping has caught up with its source, read from the runner's status file.

Caught up means quiescent after the last activity anywhere: the forwarder and every mapping have each
read all their shards (or queue) empty, with nothing pending and no batch in flight, in a read that
started after the latest record moved by any of them and after the drain began. A mapping whose
handler does not import can never catch up: once everything else is quiet, that is reported at once."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cqrs.settings import Settings
from cqrs.stack import pid_alive
from ingestion.runner import read_status

HEARTBEAT_STALE_S = 5.0


@dataclass
class DrainResult:
    ok: bool
    seconds: float
    stuck: dict[str, str] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)


def _components(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    comps = dict(st.get("mappings", {}))
    if st.get("forwarder"):
        comps["forwarder"] = st["forwarder"]
    return comps


def _why(name: str, c: dict[str, Any]) -> str:
    if c.get("handler_error"):
        return c["handler_error"]
    parts = [f"{c.get('lag_records', 0)} record(s) behind", f"{c.get('in_flight', 0)} batch(es) in flight"]
    if c.get("lag_age_s"):
        parts.append(f"oldest {c['lag_age_s']:.1f}s old")
    if c.get("last_error"):
        parts.append(f"last error: {c['last_error']}")
    return ", ".join(parts)


def check(st: dict[str, Any], since: float) -> tuple[bool, dict[str, str], bool]:
    """(caught up, stuck reasons, only blocked by handlers that do not import)."""
    comps = _components(st)
    blocked = {n: c["handler_error"] for n, c in comps.items() if c.get("handler_error")}
    live = {n: c for n, c in comps.items() if n not in blocked}
    last = max([since] + [float(c.get("last_activity_at") or 0) for c in live.values()])
    behind = {n: _why(n, c) for n, c in live.items()
              if c.get("caught_up_as_of") is None or float(c["caught_up_as_of"]) <= last}
    for n, err in st.get("setup_errors", {}).items():
        blocked[n] = err
    return (not behind and not blocked), {**behind, **blocked}, (not behind and bool(blocked))


def drain(state_dir: Path, timeout: float = 120.0, poll_s: float = 0.25) -> DrainResult:
    t0 = time.time()
    start = time.monotonic()
    stuck: dict[str, str] = {}
    st: dict[str, Any] = {}
    while True:
        st = read_status(state_dir) or {}
        now = time.time()
        if not st or st.get("stopped") or not pid_alive(st.get("pid")) \
                or now - float(st.get("heartbeat", 0)) > HEARTBEAT_STALE_S:
            stuck = {"runner": f"the runner is not running (no fresh heartbeat in {state_dir}/runner/status.json);"
                               " start the stack with `cqrs up`"}
            if time.monotonic() - start > min(timeout, 10.0):
                return DrainResult(False, time.monotonic() - start, stuck, st)
        else:
            ok, stuck, hopeless = check(st, t0)
            if ok:
                return DrainResult(True, time.monotonic() - start, {}, st)
            if hopeless:
                return DrainResult(False, time.monotonic() - start, stuck, st)
        if time.monotonic() - start > timeout:
            return DrainResult(False, time.monotonic() - start, stuck, st)
        time.sleep(poll_s)


def counts(st: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(st.get("mappings", {}).items())


def demo_step(settings: Settings, args: Any) -> None:
    """Demo: wait until every projection has caught up, then print what each mapping delivered."""
    res = drain(settings.state_dir, timeout=120.0)
    fwd = res.status.get("forwarder") or {}
    print(f"  forwarder: {fwd.get('forwarded', 0)} change(s) DynamoDB Streams -> Kinesis "
          f"({fwd.get('put_retries', 0)} PutRecords retries)")
    for mid, m in counts(res.status):
        print(f"  {mid}: delivered {m.get('delivered', 0)}, invocations {m.get('invocations', 0)}, "
              f"function errors {m.get('function_errors', 0)}, to on-failure destination "
              f"{m.get('sent_to_destination', m.get('returned_to_queue', 0))}")
    if not res.ok:
        from cqrs.cli import CliError

        raise CliError("drain did not finish: " + "; ".join(f"{k}: {v}" for k, v in res.stuck.items()))
    print(f"  every mapping caught up in {res.seconds:.1f}s")
