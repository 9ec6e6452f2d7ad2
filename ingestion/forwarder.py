"""The local stand-in for Kinesis Data Streams for DynamoDB (moto has no such integration): reads
every command-side table's DynamoDB stream and writes each change to the `changes` Kinesis stream
in the record format that integration writes (`change_event.to_kinesis_data`), partition key =
table + item key.

At least once: the position in each DynamoDB stream shard is checkpointed only after PutRecords
accepted every record read before it. Records that PutRecords rejects (FailedRecordCount) are
retried alone, with backoff; a retried record may land after a later change of the same key, which
the read models tolerate (they order by Version, ARCHITECTURE.md invariant 2)."""
from __future__ import annotations

import threading
import time
from typing import Any

from cqrs.resources import TABLES
from cqrs.settings import Settings
from ingestion import batching
from ingestion.change_event import decode_image, key_string, to_kinesis_data
from ingestion.esm.checkpoints import CheckpointStore

MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 4_500_000  # under PutRecords' 5 MiB request limit
GET_LIMIT = 1000  # DynamoDB Streams GetRecords maximum
# A shard whose last read returned less than GET_LIMIT is caught up: read it again no sooner than this
# (the integration reads about four times a second; every empty read costs moto CPU the writers need).
CAUGHT_UP_READ_S = 0.2


class Forwarder:
    def __init__(self, settings: Settings, *, kinesis: Any, streams: Any, ddb: Any, checkpoints: CheckpointStore,
                 stop: threading.Event | None = None, retry_base_s: float = 0.1, retry_cap_s: float = 2.0):
        self.settings, self.kinesis, self.streams, self.ddb = settings, kinesis, streams, ddb
        self.checkpoints, self.stop = checkpoints, stop or threading.Event()
        self.retry_base_s, self.retry_cap_s = retry_base_s, retry_cap_s
        self.tables = [settings.table(t.name) for t in TABLES]
        self._arns: dict[str, str] = {}
        self._iters: dict[tuple[str, str], str] = {}
        self._shards: dict[str, list[dict[str, Any]]] = {}
        self._listed_at = 0.0
        self.heads: dict[str, str] = {}  # Kinesis shard -> highest sequence number we wrote
        self.forwarded = 0
        self.put_retries = 0
        self.last_error: str | None = None
        self.last_activity_at = 0.0
        self._empty_at: dict[tuple[str, str], float] = {}
        self._caught_up_at: dict[tuple[str, str], float] = {}  # last read that got less than GET_LIMIT

    def poll(self, now: float | None = None) -> bool:
        now = now or time.time()
        worked = False
        try:
            if now - self._listed_at > 10 or not self._shards:
                self._list(now)
            for table in self.tables:
                for shard in self._shards.get(table, []):
                    worked |= self._forward_shard(table, shard["ShardId"], now)
        except Exception as e:  # noqa: BLE001 - reported; iterators rebuilt from checkpoints next poll
            self.last_error = f"{type(e).__name__}: {e}"
            self._iters.clear()
            self._listed_at = 0.0
        if worked:
            self.last_activity_at = now
        return worked

    def _list(self, now: float) -> None:
        for table in self.tables:
            if table not in self._arns:
                arn = self.ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
                if not arn:
                    raise RuntimeError(f"table {table} has no stream (StreamSpecification missing)")
                self._arns[table] = arn
            desc = self.streams.describe_stream(StreamArn=self._arns[table])["StreamDescription"]
            self._shards[table] = desc.get("Shards", [])
        self._listed_at = now

    def _forward_shard(self, table: str, shard_id: str, now: float) -> bool:
        ck = f"{table}/{shard_id}"
        if self.checkpoints.is_closed(ck):
            return False
        if now - self._caught_up_at.get((table, shard_id), 0.0) < CAUGHT_UP_READ_S:
            return False
        it = self._iters.get((table, shard_id))
        if it is None:
            after = self.checkpoints.get(ck)
            kw: dict[str, Any] = {"StreamArn": self._arns[table], "ShardId": shard_id}
            kw.update({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
                      else {"ShardIteratorType": "TRIM_HORIZON"})
            it = self.streams.get_shard_iterator(**kw)["ShardIterator"]
        resp = self.streams.get_records(ShardIterator=it, Limit=GET_LIMIT)
        records = resp.get("Records", [])
        nxt = resp.get("NextShardIterator")
        if not records:
            self._empty_at[(table, shard_id)] = now
            self._caught_up_at[(table, shard_id)] = now
            if nxt is None:
                self.checkpoints.close(ck)
                self._iters.pop((table, shard_id), None)
            else:
                self._iters[(table, shard_id)] = nxt
            return False
        bare = table[len(self.settings.table_prefix):] if self.settings.table_prefix else table
        entries = []
        for r in records:
            keys = decode_image(r["dynamodb"]["Keys"])
            entries.append({"Data": to_kinesis_data(r, bare, self.settings.region),
                            "PartitionKey": key_string(bare, keys or {})[:256]})
        self.put_all(entries)
        self.checkpoints.set(ck, str(records[-1]["dynamodb"]["SequenceNumber"]))
        self.forwarded += len(records)
        if len(records) < GET_LIMIT:
            self._caught_up_at[(table, shard_id)] = now  # after the put: a failed one is read again at once
        self._iters[(table, shard_id)] = nxt
        if nxt is None:
            self._iters.pop((table, shard_id), None)
        return True

    def put_all(self, entries: list[dict[str, Any]]) -> None:
        """PutRecords in chunks; only the records that failed are sent again, until all are in."""
        for chunk in batching.split(entries, lambda e: len(e["Data"]) + len(e["PartitionKey"]),
                                    MAX_PUT_RECORDS, MAX_PUT_BYTES):
            self._put_chunk(chunk)

    def _put_chunk(self, chunk: list[dict[str, Any]]) -> None:
        attempt = 0
        while chunk:
            resp = self.kinesis.put_records(StreamName=self.settings.changes_stream, Records=chunk)
            failed = []
            for entry, res in zip(chunk, resp["Records"]):
                if res.get("ErrorCode"):
                    failed.append((entry, f"{res['ErrorCode']}: {res.get('ErrorMessage', '')}"))
                else:
                    sid, seq = res["ShardId"], res["SequenceNumber"]
                    if sid not in self.heads or int(seq) > int(self.heads[sid]):
                        self.heads[sid] = seq
            if resp.get("FailedRecordCount", 0) != len(failed):
                raise RuntimeError("PutRecords FailedRecordCount disagrees with its per-record results")
            if not failed:
                return
            attempt += 1
            self.put_retries += len(failed)
            self.last_error = (f"PutRecords rejected {len(failed)} of {len(chunk)} record(s) "
                               f"(first: {failed[0][1]}); retrying those only (attempt {attempt})")
            chunk = [e for e, _ in failed]
            if self.stop.wait(min(self.retry_cap_s, self.retry_base_s * 2 ** min(attempt - 1, 6))):
                raise RuntimeError("stopping with records not yet forwarded (they will be read again)")

    def caught_up_as_of(self) -> float | None:
        keys = [(t, s["ShardId"]) for t in self.tables for s in self._shards.get(t, [])]
        if not keys:
            return None
        return min(self._empty_at.get(k, 0.0) for k in keys) or None

    def status(self, now: float) -> dict[str, Any]:
        return {"tables": len(self.tables), "forwarded": self.forwarded, "put_retries": self.put_retries,
                "kinesis_heads": dict(self.heads), "positions": self.checkpoints.positions(),
                "last_error": self.last_error, "last_activity_at": self.last_activity_at,
                "caught_up_as_of": self.caught_up_as_of()}
