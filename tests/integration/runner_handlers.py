"""Tiny handlers for the runner's integration tests, the Function declarations that use them, and
helpers giving each test a private stream and tables so it never meets the stack's own runner.
In-process tests read what was delivered from DELIVERED; the subprocess test reads a log file."""
from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cqrs.settings import Settings
from ingestion.change_event import decode_lambda_event
from ingestion.functions import Function, Mapping, OnFailure

DELIVERED: dict[str, list[dict[str, Any]]] = defaultdict(list)
INVOCATIONS: dict[str, int] = defaultdict(int)
_lock = threading.Lock()


def _payloads(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for r in event["Records"]:
        k = r["kinesis"]
        out.append((k["sequenceNumber"], json.loads(base64.b64decode(k["data"]))))
    return out


def poison_aware(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails the whole invocation when a poison record is in the batch (like an unhandled bug)."""
    items = _payloads(event)
    with _lock:
        INVOCATIONS["poison"] += 1
    if any(p.get("poison") for _, p in items):
        raise ValueError("cannot process a poison record")
    with _lock:
        DELIVERED["poison"].extend({"seq": s, **p} for s, p in items)
    return {"batchItemFailures": []}


def ordered(event: dict[str, Any], context: Any) -> dict[str, Any]:
    assert context.function_name == "ordered" and context.get_remaining_time_in_millis() > 0
    time.sleep(random.random() * 0.01)
    with _lock:
        DELIVERED["ordered"].extend({"seq": s, **p} for s, p in _payloads(event))
    return {"batchItemFailures": []}


def collect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Records every delivery under the function's name."""
    with _lock:
        DELIVERED[context.function_name].extend({"seq": s, **p} for s, p in _payloads(event))
    return {"batchItemFailures": []}


def sqs_bodies(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS: a message whose body is "poison" is reported failed (partial batch response)."""
    failed = []
    with _lock:
        for r in event["Records"]:
            assert r["eventSource"] == "aws:sqs" and r["receiptHandle"]
            if r["body"] == "poison":
                failed.append({"itemIdentifier": r["messageId"]})
            else:
                DELIVERED["sqs"].append({"body": r["body"], "receives": r["attributes"]["ApproximateReceiveCount"]})
    return {"batchItemFailures": failed}


SQS_GATE = threading.Event()
SQS_RUNNING = {"now": 0, "most": 0}


def sqs_held(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS: holds every batch until SQS_GATE is set, counting the batches running at once."""
    with _lock:
        SQS_RUNNING["now"] += 1
        SQS_RUNNING["most"] = max(SQS_RUNNING["most"], SQS_RUNNING["now"])
    SQS_GATE.wait(20)
    with _lock:
        SQS_RUNNING["now"] -= 1
        DELIVERED["sqs_held"].extend({"body": r["body"]} for r in event["Records"])
    return {"batchItemFailures": []}


def partial_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports record n=5 as failed the first time it sees it (a partial batch response)."""
    items = _payloads(event)
    with _lock:
        first = not INVOCATIONS["partial_failed"]
        bad = next((s for s, p in items if p["n"] == 5), None) if first else None
        if bad:
            INVOCATIONS["partial_failed"] += 1
        DELIVERED["partial"].extend({"seq": s, **p} for s, p in items)
    return {"batchItemFailures": [{"itemIdentifier": bad}] if bad else []}


def changes(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Decodes DynamoDB stream changes; what it saw goes to DELIVERED['changes']."""
    batch = decode_lambda_event(event, prefix=_PREFIX[0])
    with _lock:
        DELIVERED["changes"].extend({"key": c.key_string, "version": c.version, "op": c.operation,
                                     "table": c.table} for c in batch.events)
    return {"batchItemFailures": [{"itemIdentifier": f.item_identifier} for f in batch.failures]}


_PREFIX = [""]


def file_logger(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """For the kill -9 test (runs in the runner subprocess): appends each change to a log file."""
    s = Settings.from_env()
    batch = decode_lambda_event(event, prefix=s.table_prefix)
    time.sleep(0.05)  # slow enough that the runner is killed mid-way
    with open(s.state_dir / "delivered.log", "a") as f:
        f.writelines(f"{c.key_string} {c.version}\n" for c in batch.events)
    return {"batchItemFailures": [{"itemIdentifier": x.item_identifier} for x in batch.failures]}


_S3 = OnFailure("s3", "failures_bucket")
H = "tests.integration.runner_handlers"
POISON = Function("poison", f"{H}:poison_aware", (Mapping(
    "kinesis", "changes_stream", batch_size=8, bisect_batch_on_function_error=True, maximum_retry_attempts=1,
    on_failure=_S3),))
ORDERED = Function("ordered", f"{H}:ordered", (Mapping(
    "kinesis", "changes_stream", batch_size=7, parallelization_factor=4, maximum_batching_window_in_seconds=0),))
PARTIAL = Function("partial", f"{H}:partial_once", (Mapping(
    "kinesis", "changes_stream", batch_size=10, bisect_batch_on_function_error=False),))
CHANGES = Function("changes", f"{H}:changes", (Mapping("dynamodb", "Orders", batch_size=3),))
AGED = Function("aged", f"{H}:collect", (Mapping(
    "kinesis", "changes_stream", batch_size=10, maximum_record_age_in_seconds=1, on_failure=_S3),))
TWICE = Function("twice", f"{H}:collect", (Mapping("kinesis", "changes_stream", batch_size=4),))
MISSING = Function("missing", "tests.integration.no_such_module:handle", (Mapping("kinesis", "changes_stream"),))
KILL_FUNCTIONS = (Function("file-logger", f"{H}:file_logger", (Mapping("kinesis", "changes_stream", batch_size=10),)),)


# --- helpers -------------------------------------------------------------------------------------

def private(settings: Settings, tmp: Path, shards: int = 1, tables: bool = False) -> Settings:
    tag = uuid.uuid4().hex[:8]
    s = settings.with_(changes_stream=f"t-{tag}", state_dir=tmp, table_prefix=f"t{tag}-" if tables else "")
    kin = s.boto3_client("kinesis")
    kin.create_stream(StreamName=s.changes_stream, ShardCount=shards)
    kin.get_waiter("stream_exists").wait(StreamName=s.changes_stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    if tables:
        from cqrs.provision import create_tables

        create_tables(s)
    return s


def run_until(runner: Any, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            runner.poll_once()
            if cond():
                return
            time.sleep(0.02)
        raise AssertionError(f"condition not met within {timeout}s; status: {runner.status(time.time())}")
    finally:
        runner.stop.set()
        runner.executor.shutdown(wait=True)
