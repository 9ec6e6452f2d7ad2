"""A private pipeline on a running local stack, for the fault-injection suite and `cqrs chaos`.

Its own tables (a table prefix), `changes` stream, lake bucket, failures bucket, Glue database,
warehouse database and search aliases, so nothing it does meets the stack's own data or runner.
Its runner is a real `python -m ingestion.runner` subprocess (forwarder + the three projectors),
configured purely by environment variables, with deliberate faults from `<dir>/runner/faults.json`
(ingestion.faults). Killing it with SIGKILL is a real kill -9.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from cqrs.settings import REPO_ROOT, Settings
from ingestion.functions import FUNCTIONS_BY_NAME, Function

PROJECTOR_NAMES = ("search-projector", "lake-projector", "warehouse-projector")
PROJECTORS: tuple[Function, ...] = tuple(FUNCTIONS_BY_NAME[n] for n in PROJECTOR_NAMES)


def _fast(fn: Function) -> Function:
    # Tests only: a 1 s batching window instead of 5 s, so each drain is short. Semantics unchanged.
    return dataclasses.replace(fn, mappings=tuple(dataclasses.replace(
        m, maximum_batching_window_in_seconds=min(1, m.maximum_batching_window_in_seconds)) for m in fn.mappings))


FAST_PROJECTORS: tuple[Function, ...] = tuple(_fast(f) for f in PROJECTORS)


def private_settings(base: Settings, directory: Path, tag: str | None = None) -> Settings:
    tag = tag or uuid.uuid4().hex[:8]
    dsn = base.warehouse_dsn
    if dsn:
        dsn = dsn.rsplit("/", 1)[0] + f"/wh_{tag}"
    return base.with_(table_prefix=f"r{tag}-", changes_stream=f"changes-{tag}", lake_bucket=f"lake-{tag}",
                      failures_bucket=f"failures-{tag}", glue_database=f"lake_{tag}", event_bus=f"bus-{tag}",
                      warehouse_dsn=dsn, state_dir=Path(directory))


def provision(s: Settings) -> None:
    from cqrs import provision as p
    from projections.lake import store
    from projections.search import admin
    from projections.warehouse import adapters

    p.create_tables(s)
    p.create_stream(s)
    p.create_buckets(s)
    p.create_glue_database(s)
    if s.warehouse_dsn:
        p.create_warehouse_database(s.warehouse_dsn)
        adapters.provision(s)
    admin.provision(s)
    store.provision(s)


def env_for(s: Settings) -> dict[str, str]:
    env = {"CQRS_STATE_DIR": str(s.state_dir), "CQRS_AWS_ENDPOINT_URL": s.aws_endpoint_url or "",
           "CQRS_OPENSEARCH_URL": s.opensearch_url, "CQRS_WAREHOUSE_DSN": s.warehouse_dsn or "",
           "CQRS_TABLE_PREFIX": s.table_prefix, "CQRS_CHANGES_STREAM": s.changes_stream,
           "CQRS_LAKE_BUCKET": s.lake_bucket, "CQRS_FAILURES_BUCKET": s.failures_bucket,
           "CQRS_GLUE_DATABASE": s.glue_database, "CQRS_EVENT_BUS": s.event_bus, "CQRS_REGION": s.region,
           "CQRS_STORE_WAIT_S": "" if s.store_wait_s is None else str(s.store_wait_s)}
    return env


class Sandbox:
    def __init__(self, settings: Settings, functions: str = "reliability.sandbox:FAST_PROJECTORS"):
        self.settings = settings
        self.functions = functions
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(settings.state_dir) / "runner.log"

    @classmethod
    def create(cls, base: Settings, directory: Path, **kw: Any) -> Sandbox:
        s = private_settings(base, directory)
        Path(directory).mkdir(parents=True, exist_ok=True)
        provision(s)
        return cls(s, **kw)

    def set_faults(self, faults: dict[str, dict[str, Any]]) -> None:
        path = Path(self.settings.state_dir) / "runner" / "faults.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(faults))

    # --- the runner subprocess -----------------------------------------------------------------
    def start(self, settings: Settings | None = None, timeout: float = 30.0) -> None:
        from ingestion.runner import read_status, status_path

        s = settings or self.settings
        status_path(self.settings.state_dir).unlink(missing_ok=True)
        env = {**os.environ, **env_for(s)}
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "ingestion.runner", "--functions", self.functions],
                                         cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = read_status(self.settings.state_dir)
            if st and st.get("pid") == self.proc.pid:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"sandbox runner did not start; log {self.log}:\n{self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def status(self) -> dict[str, Any]:
        from ingestion.runner import read_status

        return read_status(self.settings.state_dir) or {}

    def drain(self, timeout: float = 60.0) -> Any:
        from ingestion.drain import drain

        res = drain(self.settings.state_dir, timeout=timeout)
        if not res.ok:
            raise AssertionError(f"sandbox drain did not finish: {res.stuck}")
        return res

    # --- command side --------------------------------------------------------------------------
    def put(self, table: str, item: dict[str, Any]) -> None:
        from ingestion.change_event import encode_image

        self.ddb.put_item(TableName=self.settings.table(table), Item=encode_image(item))

    def delete(self, table: str, key: dict[str, Any]) -> None:
        from ingestion.change_event import encode_image

        self.ddb.delete_item(TableName=self.settings.table(table), Key=encode_image(key))

    @property
    def ddb(self) -> Any:
        if not hasattr(self, "_ddb"):
            self._ddb = self.settings.boto3_client("dynamodb")
        return self._ddb

    def failures(self, prefix: str = "") -> list[dict[str, Any]]:
        s3 = self.settings.boto3_client("s3")
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.settings.failures_bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=self.settings.failures_bucket, Key=o["Key"])["Body"].read()
                out.append({"key": o["Key"], **json.loads(body)})
        return out


# --- sample items (DOMAIN.md shapes) -------------------------------------------------------------
def ts(i: int = 0) -> str:
    return f"2026-11-27T06:{i // 60 % 60:02d}:{i % 60:02d}.123456Z"


def product(pid: str, version: int, price: str = "12.50", qty: int | Decimal = 10, **extra: Any) -> dict[str, Any]:
    return {"ProductID": pid, "TranID": "0", "Name": f"Product {pid}", "Category": "toys", "Price": Decimal(price),
            "Qty": Decimal(qty), "LastUpdate": ts(version), "Version": Decimal(version), **extra}


def order(oid: str, version: int, status: str = "PENDING", total: str = "25.00", **extra: Any) -> dict[str, Any]:
    return {"OrderId": oid, "CustomerId": "cust-1", "CartId": f"cart-{oid}", "Status": status,
            "Lines": [{"Sku": "P1", "Qty": Decimal(2), "UnitPrice": Decimal("12.50"), "LineAmount": Decimal(total)}],
            "TotalAmount": Decimal(total), "Currency": "USD", "SagaMode": "choreography", "CreatedAt": ts(0),
            "UpdatedAt": ts(version), "Version": Decimal(version), **extra}


def transaction(tid: str, version: int = 1, amount: str = "10.00", **extra: Any) -> dict[str, Any]:
    return {"TransactionId": tid, "CustomerId": "cust-1", "Merchant": "acme", "Amount": Decimal(amount),
            "Currency": "USD", "Country": "US", "PostedAt": ts(version), "Version": Decimal(version), **extra}
