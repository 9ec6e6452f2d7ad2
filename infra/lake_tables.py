"""Glue tables of the lake, built by the lake part's own adapter (`projections.lake.store.LakeStore
.table_input`): `cqrs up` and the CDK app create the very same TableInput (name `<entity>_changes`,
Parquet, partitioned by `dt`, location `s3://<lake>/changes/<entity>/`), so catalog and writer
cannot drift."""
from __future__ import annotations

from typing import Any


def lake_table_inputs(bucket: str, database: str) -> list[dict[str, Any]]:
    from projections.lake.schema import ENTITIES
    from projections.lake.store import LakeStore

    store = LakeStore(None, None, bucket, database)  # table_input is pure: no clients used
    return [store.table_input(ent, ent.columns) for ent in ENTITIES.values()]
