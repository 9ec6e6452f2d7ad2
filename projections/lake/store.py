"""Adapter: the lake on S3 + the Glue catalog. Thin: everything it writes was built by columns.py.

Layout (Hive-style partitions, one change log per entity):
  s3://<lake_bucket>/changes/<entity>/dt=YYYY-MM-DD/<shard>-<firstseq>-<lastseq>.parquet
  s3://<lake_bucket>/quarantine/<entity>/dt=YYYY-MM-DD/<shard>-<firstseq>-<lastseq>.parquet
A file's name is the batch's shard and sequence range, so a retried batch overwrites its own file.
Glue: one table `<entity>_changes` per entity, partitioned by `dt`; extra columns carry their
source attribute in the column comment (`attr=GiftWrap`) so the next batch maps them back.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from projections.lake.schema import ENTITIES, META, Column, Entity, from_glue_type

PARQUET_SD = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}
QUARANTINE_TABLE = "lake_quarantine"
QUARANTINE_SCHEMA = pa.schema([
    ("entity", pa.string()), ("expectation", pa.string()), ("column_name", pa.string()), ("reason", pa.string()),
    ("item_key", pa.string()), ("op", pa.string()), ("version", pa.int64()), ("sequence_number", pa.string()),
    ("event_time", pa.timestamp("us", tz="UTC")), ("payload", pa.string()),
    ("quarantined_at", pa.timestamp("us", tz="UTC")),
])


# Dictionary encoding only where values repeat (op, status, currency, merchant...): for ids, sequence
# numbers and JSON text the dictionary is as big as the data. Measured on the 3 files of the bench's
# 10k-change batch (bench/events.py): 650 -> 478 KB of Parquet, 16.8 -> 13.7 ms of write_table.
_NOT_REPEATING = ("sequence_number", "lines", "payload", "cart_items")


def dictionary_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type)
            and not f.name.endswith("_id") and f.name not in _NOT_REPEATING]


# Min/max statistics only where a query can skip a file by them: the timestamps (a batch spans seconds
# of a day-long partition). Random ids, JSON text, low-cardinality strings and amounts span their whole
# range in every file, and their statistics cost ~1.3 ms of the ~12 ms write per 10k changes (bench).
def statistics_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_timestamp(f.type)]


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", use_dictionary=dictionary_columns(table.schema),
                   write_statistics=statistics_columns(table.schema))
    return buf.getvalue()


class LakeStore:
    def __init__(self, s3: Any, glue: Any, bucket: str, database: str):
        self.s3, self.glue, self.bucket, self.database = s3, glue, bucket, database

    # --- catalog ------------------------------------------------------------------------------
    def _glue_columns(self, columns: Sequence[Column]) -> list[dict[str, str]]:
        base = [{"Name": n, "Type": g} for n, _, g in META]
        return base + [{"Name": c.name, "Type": c.glue_type, "Comment": f"attr={c.attr}"} for c in columns]

    def table_input(self, ent: Entity, columns: Sequence[Column]) -> dict[str, Any]:
        return {
            "Name": ent.table, "TableType": "EXTERNAL_TABLE",
            "Description": f"Append-only change log of {ent.name} (one row per change; views pick the latest version)",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
            "PartitionKeys": [{"Name": "dt", "Type": "string"}],
            "StorageDescriptor": {"Columns": self._glue_columns(columns),
                                  "Location": f"s3://{self.bucket}/changes/{ent.name}/", **PARQUET_SD},
        }

    def known_extras(self, entity: str) -> tuple[Column, ...] | None:
        """The extra columns the catalog already has for an entity; None when its table is missing."""
        ent = ENTITIES[entity]
        try:
            t = self.glue.get_table(DatabaseName=self.database, Name=ent.table)["Table"]
        except ClientError as e:
            if e.response["Error"]["Code"] == "EntityNotFoundException":
                return None
            raise
        base = {c.name for c in ent.columns} | {m[0] for m in META}
        out = []
        for c in t["StorageDescriptor"]["Columns"]:
            if c["Name"] in base:
                continue
            kind, scale = from_glue_type(c["Type"])
            attr = (c.get("Comment") or "").removeprefix("attr=") or c["Name"]
            out.append(Column(c["Name"], attr, kind, scale))  # type: ignore[arg-type]
        return tuple(out)

    def ensure_table(self, ent: Entity, columns: Sequence[Column], exists: bool) -> None:
        ti = self.table_input(ent, columns)
        if not exists:
            try:
                self.glue.create_table(DatabaseName=self.database, TableInput=ti)
                return
            except ClientError as e:
                if e.response["Error"]["Code"] != "AlreadyExistsException":
                    raise
        self.glue.update_table(DatabaseName=self.database, TableInput=ti)

    def add_partitions(self, ent: Entity, dts: Iterable[str]) -> None:
        sd = {"Location": "", **PARQUET_SD}
        parts = [{"Values": [d], "StorageDescriptor": {**sd, "Location": f"s3://{self.bucket}/changes/{ent.name}/dt={d}/"}}
                 for d in sorted(set(dts))]
        if not parts:
            return
        r = self.glue.batch_create_partition(DatabaseName=self.database, TableName=ent.table, PartitionInputList=parts)
        for err in r.get("Errors", []):
            if err.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException":
                raise RuntimeError(f"Glue refused partition {err.get('PartitionValues')} of {ent.table}: "
                                   f"{err.get('ErrorDetail')} (retryable)")

    # --- objects ------------------------------------------------------------------------------
    def put(self, key: str, table: pa.Table) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=parquet_bytes(table))

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def read(self, key: str) -> pa.Table:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return pq.read_table(io.BytesIO(body))

    def delete(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), 1000):
            r = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
            if r.get("Errors"):
                raise RuntimeError(f"S3 did not delete {r['Errors'][:3]} (retryable)")


def provision(settings: Any) -> None:
    """`cqrs up` step: a Glue table per entity (empty change logs), so views exist before any data."""
    store = LakeStore(settings.boto3_client("s3"), settings.boto3_client("glue"), settings.lake_bucket,
                      settings.glue_database)
    for ent in ENTITIES.values():
        if store.known_extras(ent.name) is None:
            store.ensure_table(ent, ent.columns, exists=False)
