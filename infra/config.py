"""The CDK app's knobs, read from CDK context (`-c key=value` or cdk.json). Capacity numbers of the
event source mappings are NOT here: they live in ingestion.functions.FUNCTIONS only."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.packaging import DEFAULT_LAYER_DIR, REPO_ROOT


@dataclass(frozen=True)
class InfraConfig:
    prefix: str = "cqrs-"                # resource name prefix (tables: cqrs-Orders, ...)
    stream_mode: str = "on-demand"       # "on-demand" | "provisioned" (shard count is a parameter)
    search: str = "domain"               # "domain" (managed OpenSearch) | "serverless" (AOSS collection)
    dependency_layer: str = "auto"       # "auto" | "asset" | "parameter"
    layer_dir: Path = DEFAULT_LAYER_DIR
    stage_dir: Path = REPO_ROOT / "infra" / "build" / "lambda"
    search_instance_type: str = "r6g.large.search"
    search_data_nodes: int = 2
    search_volume_gb: int = 100
    athena_bytes_cutoff: int = 10 * 1024**3   # per query: a runaway scan stops at 10 GiB
    redshift_base_rpu: int = 8
    alarm_email: str = ""
    redshift_subnet_ids: tuple[str, ...] = ()
    saga_asl: Path = REPO_ROOT / "services" / "asl" / "checkout_saga.asl.json"

    @classmethod
    def from_context(cls, get: Any) -> InfraConfig:
        """`get` is `node.try_get_context`; every value may arrive as a string from `-c`."""
        base = cls()
        kw: dict[str, Any] = {}
        for key, ctx in (("prefix", "prefix"), ("stream_mode", "streamMode"), ("search", "search"),
                         ("dependency_layer", "dependencyLayer"), ("layer_dir", "layerDir"),
                         ("stage_dir", "stageDir"), ("search_instance_type", "searchInstanceType"),
                         ("search_data_nodes", "searchDataNodes"), ("search_volume_gb", "searchVolumeGb"),
                         ("athena_bytes_cutoff", "athenaBytesCutoff"), ("redshift_base_rpu", "redshiftBaseRpu"),
                         ("alarm_email", "alarmEmail"), ("saga_asl", "sagaAsl"),
                         ("redshift_subnet_ids", "redshiftSubnetIds")):
            value = get(ctx)
            if value is None:
                continue
            default = getattr(base, key)
            if isinstance(default, Path):
                kw[key] = Path(value)
            elif isinstance(default, tuple):
                kw[key] = tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) \
                    else tuple(value)
            else:
                kw[key] = type(default)(value)
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        choices = {"stream_mode": ("on-demand", "provisioned"), "search": ("domain", "serverless"),
                   "dependency_layer": ("auto", "asset", "parameter")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"context {key}={getattr(self, key)!r}: expected one of {allowed}")

    @property
    def glue_database(self) -> str:
        return (self.prefix.replace("-", "_") + "lake").lower()
