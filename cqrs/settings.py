"""One settings object, read once. Every environment variable the system reads is named here.

Resolution order for each value: the environment variable, then the running local stack's
state file (`.cqrs/stack.json`, written by `cqrs up`), then the default. In AWS the CDK app sets
the environment variables and there is no state file, so the same code path reaches the real
services by configuration alone.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

_CLIENT_LOCK = threading.Lock()

REPO_ROOT = Path(__file__).resolve().parent.parent


def _state_dir() -> Path:
    return Path(os.environ.get("CQRS_STATE_DIR", REPO_ROOT / ".cqrs")).resolve()


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"
    # None means "the real AWS endpoints"; set to moto's URL locally.
    aws_endpoint_url: str | None = None
    table_prefix: str = ""
    changes_stream: str = "changes"
    event_bus: str = "cqrs-events"
    lake_bucket: str = "cqrs-lake"
    failures_bucket: str = "cqrs-failures"
    glue_database: str = "cqrs_lake"
    opensearch_url: str = "http://127.0.0.1:9200"
    # OpenSearch auth: "none" locally, "sigv4" against Amazon OpenSearch Service.
    opensearch_auth: str = "none"
    warehouse_dsn: str | None = None
    # Redshift Data API target, used when warehouse_dsn is not set.
    redshift_workgroup: str | None = None
    redshift_database: str = "dev"
    redshift_secret_arn: str | None = None
    # Warehouse projector micro-batches (Redshift dislikes single-row writes): rows per load, and
    # the longest a buffered change waits before its batch is loaded.
    warehouse_batch_size: int = 5000
    warehouse_batch_interval_s: float = 5.0
    # Longest a projector waits for an unreachable store within one invocation (projections.retry);
    # None: the invocation's remaining time less a margin. Small values make tests show retries.
    store_wait_s: float | None = None
    # Where the projector puts a batch's Parquet for Redshift's COPY, and the role COPY reads it with.
    warehouse_stage_uri: str | None = None
    redshift_iam_role: str | None = None
    api_url: str | None = None
    dashboard_key: str | None = None  # analyst key for GET /dashboard; unset: loopback only
    state_dir: Path = field(default_factory=_state_dir)

    # --- names derived from the prefix -------------------------------------------------------
    def table(self, name: str) -> str:
        return f"{self.table_prefix}{name}"

    @property
    def lake_uri(self) -> str:
        return f"s3://{self.lake_bucket}/"

    @property
    def local(self) -> bool:
        return self.aws_endpoint_url is not None

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        state_dir = Path(env.get("CQRS_STATE_DIR", str(_state_dir()))).resolve()
        stack = _read_stack_state(state_dir)
        endpoints: dict[str, Any] = stack.get("endpoints", {})

        def pick(var: str, stack_key: str | None, default: Any) -> Any:
            if var in env and env[var] != "":
                return env[var]
            if stack_key and endpoints.get(stack_key):
                return endpoints[stack_key]
            return default

        base = cls()
        return cls(
            region=pick("CQRS_REGION", None, env.get("AWS_DEFAULT_REGION", base.region)),
            aws_endpoint_url=pick("CQRS_AWS_ENDPOINT_URL", "aws_endpoint_url", None),
            table_prefix=pick("CQRS_TABLE_PREFIX", None, base.table_prefix),
            changes_stream=pick("CQRS_CHANGES_STREAM", None, base.changes_stream),
            event_bus=pick("CQRS_EVENT_BUS", None, base.event_bus),
            lake_bucket=pick("CQRS_LAKE_BUCKET", None, base.lake_bucket),
            failures_bucket=pick("CQRS_FAILURES_BUCKET", None, base.failures_bucket),
            glue_database=pick("CQRS_GLUE_DATABASE", None, base.glue_database),
            opensearch_url=pick("CQRS_OPENSEARCH_URL", "opensearch_url", base.opensearch_url),
            opensearch_auth=pick("CQRS_OPENSEARCH_AUTH", None, base.opensearch_auth),
            warehouse_dsn=pick("CQRS_WAREHOUSE_DSN", "postgres_dsn", None),
            redshift_workgroup=pick("CQRS_REDSHIFT_WORKGROUP", None, None),
            redshift_database=pick("CQRS_REDSHIFT_DATABASE", None, base.redshift_database),
            redshift_secret_arn=pick("CQRS_REDSHIFT_SECRET_ARN", None, None),
            warehouse_batch_size=int(pick("CQRS_WAREHOUSE_BATCH_SIZE", None, base.warehouse_batch_size)),
            warehouse_batch_interval_s=float(pick("CQRS_WAREHOUSE_BATCH_INTERVAL_S", None,
                                                  base.warehouse_batch_interval_s)),
            store_wait_s=_opt_float(pick("CQRS_STORE_WAIT_S", None, None)),
            warehouse_stage_uri=pick("CQRS_WAREHOUSE_STAGE_URI", None, None),
            redshift_iam_role=pick("CQRS_REDSHIFT_IAM_ROLE", None, None),
            api_url=pick("CQRS_API_URL", "api_url", None),
            dashboard_key=pick("CQRS_DASHBOARD_KEY", None, None),
            state_dir=state_dir,
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    # --- clients (created on demand, never at import) ----------------------------------------
    def boto3_client(self, service: str, session: Any = None) -> Any:
        """`session` (a boto3.Session, optional): its own credentials are used, e.g. refreshable ones."""
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {"region_name": self.region,
                                  "config": Config(retries={"max_attempts": 8, "mode": "adaptive"})}
        if self.aws_endpoint_url:
            kwargs["endpoint_url"] = self.aws_endpoint_url
            if session is None:
                # moto accepts any credentials; never pick up a developer's real ones locally.
                kwargs["aws_access_key_id"] = "testing"
                kwargs["aws_secret_access_key"] = "testing"
        with _CLIENT_LOCK:  # boto3 sessions are not thread-safe (a client is): handlers run in threads
            return (session or boto3).client(service, **kwargs)


def _opt_float(v: Any) -> float | None:
    return None if v is None else float(v)


def _read_stack_state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / "stack.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
