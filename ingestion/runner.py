"""The local Lambda runner: `python -m ingestion.runner`. Runs the forwarder (DynamoDB Streams ->
Kinesis) and every event source mapping of `ingestion.functions.FUNCTIONS`, calling the same handlers
Lambda calls with the same event shapes. One process, one polling thread, a small worker pool for
invocations. Writes `<state_dir>/runner/status.json` (its heartbeat) about once a second.

A function whose module does not import is reported in the status and retried every few seconds;
it never stops the other functions."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cqrs.heap import freeze_survivors
from cqrs.settings import Settings
from ingestion import faults as faults_mod
from ingestion.esm.checkpoints import CheckpointStore
from ingestion.esm.destinations import Destination
from ingestion.esm.invoke import Handler, HandlerImportError, load_handler
from ingestion.esm.sources import DynamoDBStreamSource, KinesisSource
from ingestion.esm.sqs import SqsMapping
from ingestion.esm.stream import StreamMapping
from ingestion.forwarder import Forwarder
from ingestion.functions import Function, Mapping

IMPORT_RETRY_S = 5.0
IDLE_MIN_S, IDLE_MAX_S = 0.25, 1.0  # idle backoff: ~3% of a core for the runner, <=1 s per hop
EMPTY_RECEIVE_S = 0.2  # an SQS queue found empty is received from again no sooner than this (see poll_once)


def status_path(state_dir: Path) -> Path:
    return Path(state_dir) / "runner" / "status.json"


def mapping_id(fn: Function, i: int, m: Mapping) -> str:
    return f"{fn.name}#{i}:{m.kind}:{m.source}"


class FunctionSlot:
    """A function's handler, imported lazily and re-tried while it does not import."""

    def __init__(self, fn: Function):
        self.fn = fn
        self.handler: Handler | None = None
        self.error: str | None = None
        self._tried_at = 0.0

    def ready(self, now: float) -> bool:
        if self.handler is None and now - self._tried_at >= IMPORT_RETRY_S:
            self._tried_at = now
            try:
                self.handler = load_handler(self.fn.handler)
                self.error = None
            except HandlerImportError as e:
                self.error = str(e)
        return self.handler is not None

    def get(self) -> Handler:
        assert self.handler is not None
        return self.handler


class Runner:
    def __init__(self, settings: Settings, functions: tuple[Function, ...] | list[Function], *,
                 forward: bool = True, faults: dict[str, faults_mod.Faults] | None = None,
                 checkpoint_dir: Path | None = None, workers: int = 32, retry_base_s: float = 0.2,
                 retry_cap_s: float = 2.0):
        self.settings = settings
        self.stop = threading.Event()
        # Every lane of every stream mapping and the SQS batches (five per queue, up to ten while a queue
        # is behind: esm.sqs.LOCAL_MAX_BATCHES) can run at once: an invocation waiting for a worker would be
        # latency no Lambda has.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="invoke")
        self.ck_dir = checkpoint_dir or settings.state_dir / "checkpoints"
        self.status_file = status_path(settings.state_dir)
        faults = faults if faults is not None else faults_mod.load(settings.state_dir)
        c = settings.boto3_client
        self.forwarder = Forwarder(settings, kinesis=c("kinesis"), streams=c("dynamodbstreams"), ddb=c("dynamodb"),
                                   checkpoints=CheckpointStore(self.ck_dir, "forwarder"), stop=self.stop) \
            if forward else None
        self.slots: dict[str, FunctionSlot] = {}
        self.mappings: list[tuple[FunctionSlot, StreamMapping | SqsMapping]] = []
        self.setup_errors: dict[str, str] = {}
        kinesis, streams, ddb, sqs, s3 = c("kinesis"), c("dynamodbstreams"), c("dynamodb"), c("sqs"), c("s3")
        for fn in functions:
            slot = self.slots[fn.name] = FunctionSlot(fn)
            for i, m in enumerate(fn.mappings):
                mid = mapping_id(fn, i, m)
                fl = faults.get(fn.name) or faults.get(mid)
                kw: dict[str, Any] = {"mapping_id": mid, "function": fn, "mapping": m, "handler": slot.get,
                                     "executor": self.executor, "faults": fl, "region": settings.region}
                if m.kind == "sqs":
                    url = f"{settings.table_prefix}{m.source}"
                    try:
                        url = sqs.get_queue_url(QueueName=url)["QueueUrl"]
                    except Exception as e:  # noqa: BLE001 - reported in status
                        self.setup_errors[mid] = f"queue {url} not found: {e}"
                        continue
                    self.mappings.append((slot, SqsMapping(client=sqs, queue_url=url, **kw)))
                    continue
                if m.kind == "kinesis":
                    src: Any = KinesisSource(kinesis, getattr(settings, m.source, m.source), settings.region)
                else:
                    src = DynamoDBStreamSource(streams, ddb, settings.table(m.source), settings.region)
                dest = None
                if m.on_failure:
                    if m.on_failure.kind == "s3":
                        dest = Destination("s3", getattr(settings, m.on_failure.target, m.on_failure.target), s3,
                                           "")
                    else:
                        q = sqs.get_queue_url(QueueName=f"{settings.table_prefix}{m.on_failure.target}")
                        dest = Destination("sqs", q["QueueUrl"], sqs, "")
                sm = StreamMapping(source=src, checkpoints=CheckpointStore(self.ck_dir, mid), destination=dest,
                                   stop=self.stop, retry_base_s=retry_base_s, retry_cap_s=retry_cap_s, **kw)
                if dest:
                    dest.mapping_uuid = sm.uuid
                self.mappings.append((slot, sm))
        self.started_at = time.time()
        self._status_at = 0.0

    # --- loop --------------------------------------------------------------------------------
    def poll_once(self, forward: bool = True) -> bool:
        now = time.time()
        worked = self.forwarder.poll(now) if self.forwarder and forward else False
        for slot, m in self.mappings:
            if isinstance(m, SqsMapping) and not m.in_flight() and now - m.last_empty_receive_at < EMPTY_RECEIVE_S:
                continue  # as the stream reads: a busy loop would otherwise spend moto's CPU on empty receives
            if slot.ready(now):
                worked |= m.poll(now)
        if now - self._status_at >= 0.5:
            self.write_status(now)
        return worked

    def run(self) -> None:
        idle = IDLE_MIN_S
        now = time.time()
        for slot in self.slots.values():  # import handlers first: "ready" then means "consuming"
            slot.ready(now)
        self.poll_once()
        self.write_status(time.time())
        # The forwarder stands in for an AWS-managed integration, not a Lambda: it keeps its own cadence
        # in its own thread. In the polling loop, every mapping's reads delayed it (measured: half a
        # second at p50 between a write and its Kinesis record at 116 writes/s).
        fwd = threading.Thread(target=self._forward_loop, name="forwarder", daemon=True) if self.forwarder else None
        if fwd:
            fwd.start()
        try:
            while not self.stop.is_set():
                worked = self.poll_once(forward=False)
                busy = worked or any(m.in_flight() for _, m in self.mappings)
                idle = IDLE_MIN_S if busy else min(IDLE_MAX_S, idle * 1.5)
                self.stop.wait(0.02 if worked else 0.05 if busy else idle)
        finally:
            self.stop.set()
            if fwd:
                fwd.join()
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.write_status(time.time(), stopped=True)

    def _forward_loop(self) -> None:
        assert self.forwarder is not None
        while not self.stop.is_set():
            worked = self.forwarder.poll(time.time())
            self.stop.wait(0.01 if worked else 0.05)

    # --- status ------------------------------------------------------------------------------
    def status(self, now: float) -> dict[str, Any]:
        return {
            "pid": os.getpid(), "heartbeat": now, "started_at": self.started_at,
            "functions": {n: {"handler": s.fn.handler, "loaded": s.handler is not None, "error": s.error}
                          for n, s in self.slots.items()},
            "mappings": {m.id: self._mapping_status(slot, m, now) for slot, m in self.mappings},
            "setup_errors": self.setup_errors,
            "forwarder": self.forwarder.status(now) if self.forwarder else None,
        }

    def _mapping_status(self, slot: FunctionSlot, m: StreamMapping | SqsMapping, now: float) -> dict[str, Any]:
        st = {**m.status(now), "handler_error": slot.error}
        # Position vs head: the highest sequence number the forwarder wrote to each shard of `changes`.
        if self.forwarder and isinstance(m, StreamMapping) and m.source.kind == "kinesis" \
                and getattr(m.source, "stream", None) == self.settings.changes_stream:
            for sid, sh in st["shards"].items():
                sh["head"] = self.forwarder.heads.get(sid)
        return st

    def write_status(self, now: float, stopped: bool = False) -> None:
        self._status_at = now
        st = self.status(now)
        st["stopped"] = stopped
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=1, sort_keys=True, default=str))
        tmp.replace(self.status_file)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(status_path(state_dir).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _load_functions(path: str) -> tuple[Function, ...]:
    module, _, attr = path.partition(":")
    return tuple(getattr(importlib.import_module(module), attr or "FUNCTIONS"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ingestion.runner", description=__doc__.split("\n")[0])
    p.add_argument("--functions", default="ingestion.functions:FUNCTIONS",
                   help="module:ATTRIBUTE holding the Function declarations (tests use their own)")
    p.add_argument("--no-forwarder", action="store_true", help="do not forward DynamoDB streams to Kinesis")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    freeze_survivors()  # a long-running process: full collections need not walk its settled heap (cqrs.heap)
    runner = Runner(settings, _load_functions(args.functions), forward=not args.no_forwarder)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop.set())
    signal.signal(signal.SIGINT, lambda *_: runner.stop.set())
    print(f"runner: {len(runner.mappings)} mapping(s), forwarder {'on' if runner.forwarder else 'off'}, "
          f"status in {runner.status_file}", flush=True)
    runner.run()
    return 0


# --- the stack component (cqrs up starts it last, cqrs down stops it first) --------------------
def start_component(stack: Any, state: dict[str, Any], progress: Callable[[str], None],
                    restart: bool = False, timeout: float = 30.0) -> None:
    from cqrs.stack import StackError, pid_alive

    comps = state.setdefault("components", {})
    cur = comps.get("runner")
    if cur and pid_alive(cur.get("pid")) and not restart:
        progress(f"runner: running (pid {cur['pid']})")
        return
    if cur:
        stack._stop_pid(cur.get("pid"), "runner")
    status_path(stack.state_dir).unlink(missing_ok=True)
    proc = stack._spawn("runner", [sys.executable, "-m", "ingestion.runner"],
                        env={"CQRS_STATE_DIR": str(stack.state_dir)})
    comps["runner"] = {"pid": proc.pid, "log": str(stack.log_path("runner")), "started_at": time.time()}
    stack.write_state(state)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = read_status(stack.state_dir)
        if st and st.get("pid") == proc.pid:
            progress(f"runner: started (pid {proc.pid})")
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    log = stack.log_path("runner")
    raise StackError(f"runner did not write its status within {timeout:.0f}s; log {log}:\n"
                     + (log.read_text(errors="replace")[-2000:] if log.exists() else ""))


if __name__ == "__main__":
    sys.exit(main())
