"""A runner killed with SIGKILL mid-way loses nothing: changes written -> runner (a real subprocess,
forwarder + one Kinesis mapping) killed -9 while delivering -> more changes -> restarted -> every
change delivered at least once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cqrs.settings import REPO_ROOT
from tests.integration.runner_handlers import private

pytestmark = pytest.mark.integration


def _spawn(s, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "CQRS_STATE_DIR": str(tmp), "CQRS_AWS_ENDPOINT_URL": s.aws_endpoint_url,
           "CQRS_TABLE_PREFIX": s.table_prefix, "CQRS_CHANGES_STREAM": s.changes_stream}
    return subprocess.Popen([sys.executable, "-m", "ingestion.runner",
                             "--functions", "tests.integration.runner_handlers:KILL_FUNCTIONS"],
                            env=env, cwd=REPO_ROOT, stdout=open(tmp / "runner.log", "ab"), stderr=subprocess.STDOUT)


def _delivered(tmp: Path) -> list[str]:
    try:
        return (tmp / "delivered.log").read_text().splitlines()
    except OSError:
        return []


def _write(s, start: int, n: int) -> set[str]:
    ddb = s.boto3_client("dynamodb")
    for i in range(start, start + n):
        table, key = ("Orders", "OrderId") if i % 2 else ("Payments", "PaymentId")
        ddb.put_item(TableName=s.table(table), Item={key: {"S": f"x{i}"}, "Version": {"N": "1"}})
    return {f"{'Orders#OrderId' if i % 2 else 'Payments#PaymentId'}=x{i} 1" for i in range(start, start + n)}


def test_kill_minus_9_mid_way_loses_nothing(local_stack, tmp_path):
    s = private(local_stack, tmp_path, shards=2, tables=True)
    expected = _write(s, 0, 300)
    proc = _spawn(s, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(_delivered(tmp_path)) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_delivered(tmp_path)) >= 60, (tmp_path / "runner.log").read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        before = len(set(_delivered(tmp_path)))
        assert before < 300, "the runner was not killed mid-way; make the handler slower"
        expected |= _write(s, 300, 100)
        proc = _spawn(s, tmp_path)
        deadline = time.monotonic() + 90
        while not expected <= set(_delivered(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.1)
        missing = expected - set(_delivered(tmp_path))
        assert not missing, f"{len(missing)} change(s) lost, e.g. {sorted(missing)[:3]}"
        assert set(_delivered(tmp_path)) == expected  # nothing invented either
    finally:
        proc.terminate()
        proc.wait(15)
