"""Compaction: rewrite a partition's many small change-log files into one large file.

Readers never see duplicates or gaps that change an answer: the new file is written first, then the
old ones are deleted. In between, a reader may see a row twice (old file + new file); every view
picks one row per key by (version, sequence number), so a duplicate row changes nothing, and no row
is ever absent. The new file's name is derived from the names of the files it replaces
(`compacted-<hash>.parquet`), and a partition that is already one file is left alone, so running it
twice changes nothing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute

from projections.lake.schema import ENTITIES
from projections.lake.store import LakeStore


@dataclass
class Compacted:
    entity: str
    dt: str
    files_in: int
    rows: int
    new_key: str | None


def partitions(store: LakeStore, entity: str, date: str | None = None) -> list[str]:
    prefix = f"changes/{entity}/" + (f"dt={date}/" if date else "")
    return sorted({k.split("/")[2] for k in store.list_keys(prefix) if k.endswith(".parquet")})


def compact_partition(store: LakeStore, entity: str, dt_part: str) -> Compacted:
    prefix = f"changes/{entity}/{dt_part}/"
    keys = [k for k in store.list_keys(prefix) if k.endswith(".parquet")]
    if len(keys) <= 1:
        return Compacted(entity, dt_part, len(keys), 0, None)
    tables = [store.read(k) for k in keys]
    merged = pa.concat_tables(tables, promote_options="permissive")  # older files may lack newer columns
    # A run interrupted between write and delete leaves old files beside a compacted one: drop the
    # rows that are the same change twice (same key, version, sequence number).
    cols = [*ENTITIES[entity].keys, "version", "sequence_number"]
    merged = merged.append_column("_i", pa.array(range(merged.num_rows), pa.int64()))
    first = merged.group_by(cols, use_threads=False).aggregate([("_i", "min")]).column("_i_min")
    merged = merged.take(pa.array(sorted(first.to_pylist()), pa.int64())).drop_columns(["_i"])
    merged = merged.sort_by([("sequence_number", "ascending")])
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
    new_key = f"{prefix}compacted-{digest}.parquet"
    store.put(new_key, merged)
    store.delete([k for k in keys if k != new_key])
    return Compacted(entity, dt_part, len(keys), merged.num_rows, new_key)


def compact(settings: Any, date: str | None = None, store: LakeStore | None = None) -> list[Compacted]:
    store = store or LakeStore(settings.boto3_client("s3"), settings.boto3_client("glue"), settings.lake_bucket,
                               settings.glue_database)
    out = []
    for entity in ENTITIES:
        for part in partitions(store, entity, date):
            out.append(compact_partition(store, entity, part))
    return out
