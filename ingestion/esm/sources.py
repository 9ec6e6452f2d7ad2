"""Stream sources as the poller sees them: shards (with parents, to follow splits and merges), shard
iterators, and records already in the shape Lambda puts into `event["Records"]`.

Two kinds: a Kinesis stream and a DynamoDB stream (the dynamodbstreams API). Clients are injected."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson

ACCOUNT = "123456789012"  # moto's default account; only used to shape ARNs locally


@dataclass(frozen=True, slots=True)
class ShardInfo:
    shard_id: str
    parent: str | None = None
    adjacent_parent: str | None = None
    ending_sequence_number: str | None = None  # set once the shard is closed (split/merge/rotation)


@dataclass(slots=True)
class SourceRecord:
    seq: str
    partition_key: str
    arrival: float  # epoch seconds: Kinesis approximateArrivalTimestamp / stream ApproximateCreationDateTime
    event_record: dict[str, Any]
    size: int = 0


@dataclass(slots=True)
class ReadResult:
    records: list[SourceRecord]
    next_iterator: str | None  # None: the shard is closed and fully read
    millis_behind_latest: int = 0


class StreamSource(Protocol):
    kind: str
    arn: str

    def list_shards(self) -> list[ShardInfo]: ...
    def iterator(self, shard_id: str, after: str | None, starting_position: str) -> str: ...
    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult: ...


def _epoch(v: Any) -> float:
    if isinstance(v, datetime):
        return v.timestamp()
    return float(v or 0)


class KinesisSource:
    kind = "kinesis"
    max_read = 10000  # GetRecords' Limit maximum

    def __init__(self, client: Any, stream: str, region: str):
        self.client, self.stream, self.region = client, stream, region
        self.arn = f"arn:aws:kinesis:{region}:{ACCOUNT}:stream/{stream}"

    def list_shards(self) -> list[ShardInfo]:
        out: list[ShardInfo] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream}
        while True:
            resp = self.client.list_shards(**kwargs)
            for s in resp.get("Shards", []):
                out.append(ShardInfo(s["ShardId"], s.get("ParentShardId"), s.get("AdjacentParentShardId"),
                                     s.get("SequenceNumberRange", {}).get("EndingSequenceNumber")))
            token = resp.get("NextToken")
            if not token:
                return out
            kwargs = {"NextToken": token}

    def iterator(self, shard_id: str, after: str | None, starting_position: str) -> str:
        kw: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard_id}
        if after:
            kw.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        else:
            kw.update(ShardIteratorType=starting_position)
        return str(self.client.get_shard_iterator(**kw)["ShardIterator"])

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult:
        resp = self.client.get_records(ShardIterator=iterator, Limit=min(limit, self.max_read))
        recs = []
        for r in resp.get("Records", []):
            data: bytes = r["Data"]
            arrival = _epoch(r.get("ApproximateArrivalTimestamp"))
            seq = r["SequenceNumber"]
            recs.append(SourceRecord(seq, r["PartitionKey"], arrival, {
                "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"],
                            "sequenceNumber": seq, "data": base64.b64encode(data).decode(),
                            "approximateArrivalTimestamp": arrival},
                "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{shard_id}:{seq}",
                "eventName": "aws:kinesis:record", "awsRegion": self.region, "eventSourceARN": self.arn,
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/lambda-local-runner",
            }, len(data)))
        return ReadResult(recs, resp.get("NextShardIterator"), int(resp.get("MillisBehindLatest") or 0))


def _b64_binaries(av: Any) -> Any:
    """boto3 decodes B/BS to bytes; a Lambda event carries them base64-encoded, as AWS does."""
    if isinstance(av, dict):
        return {k: _b64_binaries(v) for k, v in av.items()}
    if isinstance(av, list):
        return [_b64_binaries(v) for v in av]
    if isinstance(av, (bytes, bytearray)):
        return base64.b64encode(av).decode()
    return av


class DynamoDBStreamSource:
    kind = "dynamodb"
    max_read = 1000

    def __init__(self, streams_client: Any, ddb_client: Any, table: str, region: str):
        self.client, self.ddb, self.table, self.region = streams_client, ddb_client, table, region
        self._arn: str | None = None

    @property
    def arn(self) -> str:
        if self._arn is None:
            self._arn = str(self.ddb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"])
        return self._arn

    def list_shards(self) -> list[ShardInfo]:
        out: list[ShardInfo] = []
        kw: dict[str, Any] = {"StreamArn": self.arn}
        while True:
            desc = self.client.describe_stream(**kw)["StreamDescription"]
            for s in desc.get("Shards", []):
                out.append(ShardInfo(s["ShardId"], s.get("ParentShardId"), None,
                                     s.get("SequenceNumberRange", {}).get("EndingSequenceNumber")))
            last = desc.get("LastEvaluatedShardId")
            if not last:
                return out
            kw["ExclusiveStartShardId"] = last

    def iterator(self, shard_id: str, after: str | None, starting_position: str) -> str:
        kw: dict[str, Any] = {"StreamArn": self.arn, "ShardId": shard_id}
        if after:
            kw.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            kw.update(ShardIteratorType=starting_position)
        return str(self.client.get_shard_iterator(**kw)["ShardIterator"])

    def read(self, shard_id: str, iterator: str, limit: int) -> ReadResult:
        resp = self.client.get_records(ShardIterator=iterator, Limit=min(limit, self.max_read))
        recs = []
        for r in resp.get("Records", []):
            recs.append(self.to_lambda_record(r))
        return ReadResult(recs, resp.get("NextShardIterator"))

    def to_lambda_record(self, r: dict[str, Any]) -> SourceRecord:
        ddb = _b64_binaries(dict(r["dynamodb"]))
        created = _epoch(r["dynamodb"].get("ApproximateCreationDateTime"))
        ddb["ApproximateCreationDateTime"] = int(created)
        rec: dict[str, Any] = {
            "eventID": r.get("eventID"), "eventName": r.get("eventName"),
            "eventVersion": r.get("eventVersion", "1.1"), "eventSource": "aws:dynamodb",
            "awsRegion": r.get("awsRegion", self.region), "dynamodb": ddb, "eventSourceARN": self.arn,
        }
        if r.get("userIdentity"):
            rec["userIdentity"] = r["userIdentity"]
        pk = self.table + "#" + orjson.dumps(ddb.get("Keys", {}), option=orjson.OPT_SORT_KEYS).decode()
        return SourceRecord(str(ddb["SequenceNumber"]), pk, created, rec, int(ddb.get("SizeBytes") or 0))
