"""`cqrs chaos --minutes M`: load plus random kills and outages on the running local stack, then
drain, replay and reconcile, with figures. A store outage is absorbed by back-pressure (the
projectors wait, projections.retry), so nothing should be parked: the report counts what the
on-failure destinations hold after the drain (`parked`) and reconciles BEFORE any redrive; only
when something was parked is it redriven (and reconciled again).

Faults (one every `--every` seconds on average, chosen at random):
  * runner     kill -9 of the local Lambda runner, restarted at once (checkpoints make it resume);
  * opensearch kill -9 of osmem-server; down for a few seconds, then restarted by `Stack.up()`.
               osmem keeps its indices in memory, so a restart loses them: the search read model
               is rebuilt from the lake's change log (`replay --to search`) at the end;
  * postgres   kill -9 of PostgreSQL; down for a few seconds, then restarted (crash recovery).
Out of scope: moto. It holds the command side (DynamoDB, streams, Kinesis) in memory, so killing it
would lose the source of truth itself; in AWS those are managed, multi-AZ services.
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cqrs.settings import Settings

COMPONENTS = ("runner", "opensearch", "postgres")


@dataclass
class ChaosReport:
    minutes: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    load_runs: int = 0
    load_failures: list[str] = field(default_factory=list)
    changes: int = 0  # writes on the command side (sum of Version over live items)
    parked: int = 0  # records in on-failure destinations / failure reports after the drain
    parked_redriven: int = 0
    still_failed: int = 0
    replayed_search: int = 0
    drift_without_redrive: int = -1  # reconcile after drain (+ search replay), before redrive/repair
    drift_before_repair: int = 0
    drift_breakdown: dict[str, int] = field(default_factory=dict)  # "store/view/kind" -> keys, before repair
    drift: int = 0
    reconcile_ok: bool = False
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)

    def to_text(self) -> str:
        kinds: dict[str, int] = {}
        for f in self.faults:
            kinds[f["component"]] = kinds.get(f["component"], 0) + 1
        return "\n".join([
            (f"chaos: {self.minutes:g} min of load with faults, then drain + replay + reconcile "
             f"({self.seconds:.0f}s in all)"),
            f"  changes applied on the command side: {self.changes} ({self.load_runs} load runs)",
            f"  faults injected: {len(self.faults)} " + (str(kinds) if kinds else ""),
            (f"  records parked in on-failure destinations: {self.parked}; redriven: {self.parked_redriven}; "
             f"still failing: {self.still_failed}"),
            f"  search rebuilt from the lake: {self.replayed_search} change(s)",
            f"  drift after drain + replay, without redrive: {self.drift_without_redrive} key(s)",
            (f"  drift before repair: {self.drift_before_repair} key(s); "
             f"after reconcile --repair: {self.drift}"),
            *(f"    {k}: {n}" for k, n in sorted(self.drift_breakdown.items())),
            f"  {'OK: every read model equals the command side' if self.reconcile_ok else 'DRIFT REMAINS'}",
        ] + [f"  error: {k}: {v}" for k, v in self.errors.items()])


def _kill9(pid: int | None) -> bool:
    from cqrs.stack import pid_alive

    if not pid_alive(pid):
        return False
    assert pid is not None
    try:
        os.killpg(pid, signal.SIGKILL)  # the stack starts each component in its own session
    except ProcessLookupError:
        return False
    return True


def inject(stack: Any, component: str, down_s: float, log: Callable[[str], None]) -> dict[str, Any]:
    """Kill one component with SIGKILL; after `down_s`, bring the stack back up."""
    state = stack.read_state()
    pid = state.get("components", {}).get(component, {}).get("pid")
    t0 = time.monotonic()
    killed = _kill9(pid)
    log(f"fault: kill -9 {component} (pid {pid})")
    if component != "runner":
        time.sleep(down_s)
    if component == "runner":
        from ingestion.runner import start_component

        start_component(stack, stack.read_state(), lambda m: None, restart=True)
    else:
        restart_on_same_port(stack, component)
    return {"component": component, "pid": pid, "killed": killed, "down_s": round(time.monotonic() - t0, 1)}


def restart_on_same_port(stack: Any, component: str, timeout: float = 60.0) -> None:
    """Start one killed store again on its old port, so every client's endpoint stays valid.

    Not `Stack.up()`: under chaos load moto answers its readiness probe slowly, and `up()` would
    then restart moto too, wiping the in-memory command side (observed; see docs/reliability.md)."""
    from cqrs.stack import _wait

    state = stack.read_state()
    info = state["components"][component]
    comp = next(c for c in stack.components() if c.name == component)
    proc = comp.start(stack, info["port"])
    info.update(pid=proc.pid, started_at=time.time())
    stack.write_state(state)
    _wait(lambda: proc.poll() is None and comp.ready(stack, info), component, stack.log_path(component), timeout)
    if component == "opensearch":  # osmem starts empty: templates, indices and aliases again
        from projections.search import admin

        admin.provision(Settings.from_env())


def parked_records(settings: Settings) -> int:
    """Records the on-failure destinations hold (runner invocation records and projector failure
    reports in the failures bucket, not yet redriven)."""
    import json

    from reliability.replay import _failure_objects, _records_of

    s3 = settings.boto3_client("s3")
    n = 0
    for key in _failure_objects(s3, settings.failures_bucket):
        body = json.loads(s3.get_object(Bucket=settings.failures_bucket, Key=key)["Body"].read())
        n += max(1, len(_records_of(body)[1]))
    return n


def run(settings: Settings, minutes: float, every_s: float = 20.0, down_s: float = 4.0, seed: int = 1,
        log: Callable[[str], None] = print) -> ChaosReport:
    from cqrs.stack import Stack
    from ingestion.drain import drain
    from reliability.reconcile import reconcile
    from reliability.replay import redrive, replay
    from services.load import LoadConfig, run_load

    rng = random.Random(seed)
    stack = Stack(settings.state_dir)
    rep = ChaosReport(minutes)
    t_start = time.monotonic()
    end = t_start + minutes * 60
    stop = threading.Event()

    def load_loop() -> None:
        i = 0
        while not stop.is_set() and time.monotonic() < end:
            i += 1
            try:
                r = run_load(Settings.from_env(), LoadConfig(orders=8, seed=1000 * seed + i, progress=False,
                                                             products=12, customers=20))
                rep.load_failures += r.failures[:3]
            except Exception as e:  # noqa: BLE001 - the command side is moto, never killed; report and go on
                rep.load_failures.append(f"{type(e).__name__}: {e}")
            rep.load_runs += 1

    loader = threading.Thread(target=load_loop, name="chaos-load", daemon=True)
    loader.start()
    search_lost = False
    while time.monotonic() < end - 5:
        time.sleep(min(rng.expovariate(1 / every_s), max(0.0, end - 5 - time.monotonic())))
        if time.monotonic() >= end - 5:
            break
        comp = rng.choice(COMPONENTS)
        try:
            rep.faults.append(inject(stack, comp, down_s, log))
            search_lost |= comp == "opensearch"
        except Exception as e:  # noqa: BLE001 - recorded; the run goes on
            rep.errors[f"fault {comp}"] = f"{type(e).__name__}: {e}"
    stop.set()
    loader.join()
    log("load stopped; draining")
    settings = Settings.from_env()
    d = drain(settings.state_dir, timeout=300)
    if not d.ok:
        rep.errors["drain"] = "; ".join(f"{k}: {v}" for k, v in d.stuck.items())
    rep.parked = parked_records(settings)
    if search_lost:  # osmem restarted empty: rebuild search from the lake's change log
        rep.replayed_search = replay(settings, "search", quiet=True).applied
    first = reconcile(settings)
    rep.drift_without_redrive = first["drift_count"]
    if rep.parked:  # only what back-pressure could not absorb; then reconcile again
        red = redrive(settings, include_quarantine=False)
        rep.parked_redriven, rep.still_failed = red.redriven, len(red.still_failed)
        first = reconcile(settings)
    rep.drift_before_repair = first["drift_count"]
    for d in first["drift"]:
        k = f"{d['store']}/{d['view']}/{d['kind']}"
        rep.drift_breakdown[k] = rep.drift_breakdown.get(k, 0) + 1
    final = reconcile(settings, do_repair=True) if first["drift"] else first
    rep.drift, rep.reconcile_ok = final["drift_count"], final["ok"]
    rep.errors.update({f"reconcile {k}": v for k, v in final["errors"].items()})
    rep.changes = sum(v["command"]["version_sum"] for v in final["views"].values())
    rep.seconds = time.monotonic() - t_start
    return rep
