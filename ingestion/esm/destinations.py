"""On-failure destinations for stream mappings, with the invocation record AWS writes.

S3: the full invocation record including the payload (the event that failed), under
`aws/lambda/<mapping uuid>/<shard id>/YYYY/MM/DD/<timestamp>-<uuid>`. SQS: the same record without
the payload (metadata only: the batch's shard and sequence range, to fetch the records yourself)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ingestion.esm.sources import SourceRecord


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def invocation_record(*, function_arn: str, source_kind: str, source_arn: str, shard_id: str,
                      records: list[SourceRecord], condition: str, invoke_count: int,
                      function_error: str | None, error_message: str | None) -> dict[str, Any]:
    info_key = "KinesisBatchInfo" if source_kind == "kinesis" else "DDBStreamBatchInfo"
    rec: dict[str, Any] = {
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": function_arn,
                           "condition": condition, "approximateInvokeCount": invoke_count},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                            **({"functionError": function_error} if function_error else {})},
        "version": "1.0",
        "timestamp": _iso(datetime.now(UTC).timestamp()),
        info_key: {
            "shardId": shard_id,
            "startSequenceNumber": records[0].seq,
            "endSequenceNumber": records[-1].seq,
            "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
            "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
            "batchSize": len(records),
            "streamArn": source_arn,
        },
    }
    if error_message:
        # Not in AWS's record; kept locally so an operator sees why without reading logs.
        rec["responseContext"]["errorMessage"] = error_message[:2000]
    return rec


@dataclass
class Destination:
    kind: str  # "s3" | "sqs"
    target: str  # bucket name or queue URL
    client: Any
    mapping_uuid: str

    def send(self, record: dict[str, Any], shard_id: str, records: list[SourceRecord]) -> str:
        if self.kind == "s3":
            now = datetime.now(UTC)
            body = {**record, "payload": orjson.dumps({"Records": [r.event_record for r in records]}).decode()}
            key = (f"aws/lambda/{self.mapping_uuid}/{shard_id}/{now:%Y/%m/%d}/"
                   f"{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}")
            self.client.put_object(Bucket=self.target, Key=key, Body=orjson.dumps(body),
                                   ContentType="application/json")
            return f"s3://{self.target}/{key}"
        resp = self.client.send_message(QueueUrl=self.target, MessageBody=orjson.dumps(record).decode())
        return f"{self.target}#{resp['MessageId']}"
