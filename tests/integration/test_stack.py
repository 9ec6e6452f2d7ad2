"""The embedded local stack: endpoints reachable by the user's own clients, restart of a dead
component, and `down` leaving no process behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from opensearchpy import OpenSearch

from cqrs.resources import TABLES
from cqrs.stack import Stack, pid_alive


def cli(state_dir, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CQRS_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "cqrs.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@pytest.fixture
def private_stack(tmp_path):
    yield tmp_path
    Stack(tmp_path).down()


def test_up_status_down_through_the_cli(private_stack):
    up = cli(private_stack, "up", "--detach")
    assert up.returncode == 0, up.stderr
    st = cli(private_stack, "status", "--json")
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    ep = status["endpoints"]
    pids = [c["pid"] for c in status["components"].values()]
    assert {"moto", "opensearch", "postgres"} <= set(status["components"])

    # Reachable by a user's own clients: boto3, psycopg, opensearch-py.
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=ep["aws_endpoint_url"], region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    names = ddb.list_tables()["TableNames"]
    assert {t.name for t in TABLES} <= set(names)
    desc = ddb.describe_table(TableName="Orders")["Table"]
    assert desc["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    with psycopg.connect(ep["postgres_dsn"]) as c:
        assert c.execute("select current_database()").fetchone()[0] == "warehouse"
    assert OpenSearch(hosts=[ep["opensearch_url"]]).info()["version"]["number"]

    down = cli(private_stack, "down")
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in pids), "down left a process behind"
    assert cli(private_stack, "status", "--json").returncode != 0


def test_up_on_a_running_stack_restarts_only_the_dead_component(private_stack):
    stack = Stack(private_stack)
    stack.up()
    before = stack.read_state()["components"]
    os.killpg(before["opensearch"]["pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert not stack.status()["components"]["opensearch"]["running"]
    stack.up()
    after = stack.read_state()["components"]
    assert after["opensearch"]["pid"] != before["opensearch"]["pid"]
    assert after["moto"]["pid"] == before["moto"]["pid"]
    assert after["postgres"]["pid"] == before["postgres"]["pid"]
    assert stack.status()["running"]


def test_up_replaces_a_hung_postgres_keeping_its_data(private_stack):
    # A SIGSTOPped postmaster is alive but never answers: `up` must replace it, and the new one
    # must not trip over the old one's postmaster.pid (it did, while the old pid lingered).
    # Through the CLI, as an operator would: the postmaster is then no child of this process and its
    # zombie is reaped by someone else, later.
    stack = Stack(private_stack)
    assert cli(private_stack, "up", "--detach").returncode == 0
    before = stack.read_state()["components"]
    with psycopg.connect(stack.read_state()["endpoints"]["postgres_dsn"], autocommit=True) as c:
        c.execute("create table kept (x int)")
    os.kill(before["postgres"]["pid"], signal.SIGSTOP)
    up = cli(private_stack, "up", "--detach")
    assert up.returncode == 0, up.stderr[-2000:]
    after = stack.read_state()["components"]
    assert after["postgres"]["pid"] != before["postgres"]["pid"] and not pid_alive(before["postgres"]["pid"])
    assert after["moto"]["pid"] == before["moto"]["pid"]
    with psycopg.connect(stack.read_state()["endpoints"]["postgres_dsn"]) as c:
        assert c.execute("select count(*) from kept").fetchone() == (0,)
    assert stack.status()["running"]


def test_fresh_starts_every_store_empty(private_stack):
    stack = Stack(private_stack)
    stack.up()
    dsn = stack.read_state()["endpoints"]["postgres_dsn"]
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("create table leftover(x int)")
    stack.up(fresh=True)
    dsn = stack.read_state()["endpoints"]["postgres_dsn"]
    with psycopg.connect(dsn) as c:
        assert c.execute("select to_regclass('leftover')").fetchone()[0] is None


def test_a_new_moto_starts_with_no_stale_stream_checkpoints(private_stack):
    """After `down` then `up`, moto's streams are new: checkpoints of the old ones must not survive,
    or the runner would start past the new stream's first records and skip changes."""
    stack = Stack(private_stack)
    stack.up()
    ckpt = private_stack / "checkpoints"
    ckpt.mkdir(exist_ok=True)
    (ckpt / "stale.json").write_text("{}")
    stack.down()
    stack.up()
    assert not (ckpt / "stale.json").exists()


def test_sigterm_to_a_process_holding_a_running_stack_stops_every_component(tmp_path):
    # `timeout` or `kill` on a benchmark must not leave its private stack running: the components sit
    # in sessions of their own, so only running_stack's own cleanup can stop them.
    script = ("import sys, time\nfrom pathlib import Path\nfrom cqrs.stack import running_stack\n"
              "with running_stack(Path(sys.argv[1])):\n    print('up', flush=True)\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        pids = [c["pid"] for c in json.loads((tmp_path / "stack.json").read_text())["components"].values()]
        assert len(pids) >= 4 and all(pid_alive(p) for p in pids)  # moto, opensearch, postgres, runner
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert not [p for p in pids if pid_alive(p)]
    finally:
        proc.kill()
        Stack(tmp_path).down()


def test_a_component_that_cannot_start_fails_up_at_once_and_leaves_nothing_running(private_stack, monkeypatch):
    # The fault injected: moto is handed a port a listener already holds (what a port race does).
    import socket

    from cqrs import stack as stack_mod
    from cqrs.ports import free_port

    handed: list[int] = []
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()

        def pick() -> int:
            handed.append(busy.getsockname()[1] if not handed else free_port())
            return handed[-1]

        monkeypatch.setattr(stack_mod, "free_port", pick)
        t0 = time.monotonic()
        with pytest.raises(stack_mod.StackError, match="moto exited before it was ready"):
            Stack(private_stack).up()
        assert time.monotonic() - t0 < 25  # not the 30-s readiness timeout
    others = handed[1:]
    assert len(others) == 2  # opensearch and postgres were started in the same call
    for port in others:  # ... and stopped again: nothing listens on their ports
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served after a failed up"
