"""Helpers for the runner tests: private streams and tables so they never meet the stack's own runner."""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Callable

from cqrs.settings import Settings


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
