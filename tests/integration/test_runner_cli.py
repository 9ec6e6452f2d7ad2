"""`cqrs functions | invoke | drain` and the runner as a stack component, through the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from cqrs.settings import REPO_ROOT
from cqrs.stack import Stack, pid_alive
from ingestion.runner import read_status

pytestmark = pytest.mark.integration


def cqrs(*args: str, state_dir=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if state_dir is not None:
        env["CQRS_STATE_DIR"] = str(state_dir)
    return subprocess.run([sys.executable, "-m", "cqrs.cli", *args], check=False, cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_runner_is_the_last_component_and_keeps_a_heartbeat(local_stack):
    state = Stack(local_stack.state_dir).read_state()
    assert list(state["components"])[-1] == "runner"  # started last, so `down` stops it first
    st = read_status(local_stack.state_dir)
    assert st and pid_alive(st["pid"]) and time.time() - st["heartbeat"] < 5
    assert {"search-projector", "event-pipe", "saga-steps"} <= set(st["functions"])


def test_functions_lists_sources_settings_and_runner_state(local_stack):
    out = cqrs("functions", "--json")
    funcs = {f["name"]: f for f in json.loads(out.stdout)}
    pipe = funcs["event-pipe"]
    assert pipe["handler"] == "ingestion.pipe:handle" and pipe["importable"] is True
    (m,) = pipe["mappings"]
    assert (m["kind"], m["source"], m["batch_size"], m["on_failure"]["kind"]) == ("kinesis", "changes_stream", 500, "s3")
    assert m["runner"]["function"] == "event-pipe" and "lag_records" in m["runner"]
    shards = m["runner"]["shards"]
    assert shards, json.dumps(m["runner"])
    assert all({"checkpoint", "read_up_to", "head", "pending"} <= set(sh) for sh in shards.values())
    text = cqrs("functions")
    assert "event-pipe  ingestion.pipe:handle" in text.stdout and "<- sqs:saga-steps" in text.stdout


def test_invoke_prints_the_handlers_response_with_batch_item_failures(local_stack):
    out = cqrs("invoke", "event-pipe", "--event", "tests/events/kinesis_ddb_event_with_undecodable.json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"batchItemFailures": [
        {"itemIdentifier": "49656783930150203476301298478932746253765917842187427844"}]}
    bad = cqrs("invoke", "no-such-function", "--event", "tests/events/sqs_event.json")
    assert bad.returncode == 1 and "no function 'no-such-function'" in bad.stderr


def test_drain_says_when_no_runner_is_running(tmp_path):
    out = cqrs("drain", "--timeout", "1", state_dir=tmp_path)
    assert out.returncode == 1 and "the runner is not running" in out.stderr
