"""An SQS event source mapping with Lambda's semantics: receive up to BatchSize messages (10 per
call), invoke, delete what succeeded. A function error leaves every message of the batch on the
queue; a partial batch response (ReportBatchItemFailures) deletes all but the named ones, and an
empty or unknown itemIdentifier fails the whole batch. Failed messages come back when their
visibility timeout ends; after the queue's maxReceiveCount, SQS itself moves them to the queue's
dead-letter queue (its RedrivePolicy), exactly as in AWS.

Like Lambda, several batches are in flight at once, and more while a backlog lasts: five to start with
(where Lambda starts for a standard queue), one more at most every 0.2 s while every batch is busy and
receives still come back full (Lambda adds up to 300 a minute), up to the mapping's `maximum_concurrency`
or, locally, LOCAL_MAX_BATCHES (the runner's invoke threads are shared by every mapping); back to five once
a receive comes back empty. One batch at a time fell behind the Second Look's 116 messages/s, and five
fell behind whenever moto's answers slowed (BENCHMARKS.md): each message is a history query, so a batch
takes ten round trips.

Local difference, on purpose: a failed message's visibility is shortened to `retry_visibility_s`
(AWS waits the full timeout) so local retries take seconds, not minutes."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ingestion.esm.invoke import Handler, LambdaContext
from ingestion.faults import Faults
from ingestion.functions import Function, Mapping

STARTING_BATCHES = 5  # Lambda's concurrent batches for a standard queue before it scales out
LOCAL_MAX_BATCHES = 10  # the local ceiling: two queues at 10 plus every stream lane fit the runner's 32 threads
SCALE_UP_EVERY_S = 0.2  # Lambda: "up to 300 more instances per minute"
COUNT_EVERY_S = 1.0  # the queue's depth is read at most this often while messages keep coming


class SqsMapping:
    def __init__(self, *, mapping_id: str, function: Function, mapping: Mapping, client: Any, queue_url: str,
                 handler: Callable[[], Handler], executor: Executor, faults: Faults | None = None,
                 region: str = "us-east-1", retry_visibility_s: int = 1):
        self.id, self.function, self.mapping, self.client = mapping_id, function, mapping, client
        self.queue_url, self.handler, self.executor, self.region = queue_url, handler, executor, region
        self.faults = faults or Faults()
        self.retry_visibility_s = retry_visibility_s
        self.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"esm:{mapping_id}"))
        self.arn = f"arn:aws:sqs:{region}:123456789012:{queue_url.rsplit('/', 1)[-1]}"
        self.futures: list[Future[None]] = []
        self.ceiling = min(mapping.maximum_concurrency or LOCAL_MAX_BATCHES, LOCAL_MAX_BATCHES)
        self.starting = min(STARTING_BATCHES, self.ceiling)
        self.concurrency = self.starting
        self.scaled_at = 0.0
        self.last_receive_full = False
        self._lock = threading.Lock()
        self.stats = {"delivered": 0, "invocations": 0, "function_errors": 0, "returned_to_queue": 0}
        self.last_error: str | None = None
        self.last_activity_at = 0.0
        self.last_empty_receive_at = 0.0
        self.counted_at = 0.0
        self.visible = 0
        self.not_visible = 0

    def in_flight(self) -> int:
        return len(self.futures)

    def poll(self, now: float | None = None) -> bool:
        """Receive batches until `concurrency` are in flight or the queue answers empty."""
        now = now or time.time()
        for f in [f for f in self.futures if f.done()]:
            self.futures.remove(f)
            if f.exception():
                self.last_error = f"batch failed unexpectedly: {f.exception()}"
        worked = False
        per_receive = min(self.mapping.batch_size, 10)
        while len(self.futures) < self.concurrency:
            try:
                msgs = self.client.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=per_receive,
                    WaitTimeSeconds=0, VisibilityTimeout=self.function.timeout_s,
                    AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            except Exception as e:  # noqa: BLE001 - reported, retried next poll
                self.last_error = f"receiving from {self.queue_url}: {type(e).__name__}: {e}"
                return worked
            if not msgs:
                self.last_empty_receive_at = now
                self.concurrency = self.starting  # the backlog is gone: scale back, as Lambda does
                self._count(now)
                return worked
            self.last_activity_at = now
            self.futures.append(self.executor.submit(self._deliver, msgs))
            worked, self.last_receive_full = True, len(msgs) == per_receive
        busy = len(self.futures) >= self.concurrency
        if busy and self.last_receive_full and self.concurrency < self.ceiling \
                and now - self.scaled_at >= SCALE_UP_EVERY_S:
            self.concurrency += 1  # every batch busy and the queue still answering full: a backlog
            self.scaled_at = now
        if now - self.counted_at >= COUNT_EVERY_S:
            self._count(now)  # busy: the depth (the backlog in status) would otherwise stay what it was last idle
        return worked

    def _count(self, now: float) -> None:
        self.counted_at = now
        attrs = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        self.visible = int(attrs.get("ApproximateNumberOfMessages", 0))
        self.not_visible = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))

    def event(self, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {k: {"stringValue": v.get("StringValue"), "binaryValue": v.get("BinaryValue"),
                                      "stringListValues": [], "binaryListValues": [], "dataType": v["DataType"]}
                                  for k, v in m.get("MessageAttributes", {}).items()},
            "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": self.arn,
            "awsRegion": self.region,
        } for m in msgs]}

    def _deliver(self, msgs: list[dict[str, Any]]) -> None:
        event = self.event(msgs)
        ids = [m["MessageId"] for m in msgs]
        failed: set[str] = set(ids)
        with self._lock:
            self.stats["invocations"] += 1
        try:
            fn = self.handler()
            resp = None
            for _ in range(2 if self.faults.duplicate_batches else 1):
                resp = fn(event, LambdaContext(self.function.name, self.function.timeout_s,
                                               self.function.memory_mb, self.region))
            failed = set()
            items = resp.get("batchItemFailures") if isinstance(resp, dict) else None
            if self.mapping.report_batch_item_failures and items:
                named = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in items]
                if any(not n or n not in ids for n in named):
                    failed = set(ids)
                    self.last_error = f"batchItemFailures names an unknown message {named!r}: whole batch fails"
                else:
                    failed = {str(n) for n in named}
                    self.last_error = f"handler reported {len(failed)} failed message(s)"
        except Exception as e:  # noqa: BLE001 - a function error: every message stays on the queue
            with self._lock:
                self.stats["function_errors"] += 1
            self.last_error = f"function error {type(e).__name__}: {e}"
        done = [m for m in msgs if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(done[i:i + 10])])
        back = [m for m in msgs if m["MessageId"] in failed]
        if back:
            self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_visibility_s}
                for j, m in enumerate(back)])
        with self._lock:
            self.stats["delivered"] += len(done)
            self.stats["returned_to_queue"] += len(back)

    def caught_up_as_of(self) -> float | None:
        if self.futures or self.visible or self.not_visible:
            return None
        return self.last_empty_receive_at or None

    def status(self, now: float) -> dict[str, Any]:
        return {"function": self.function.name, "kind": "sqs", "source": self.arn, "uuid": self.uuid,
                "lag_records": self.visible + self.not_visible, "in_flight": len(self.futures),
                "concurrent_batches_allowed": self.concurrency,
                **dict(self.stats), "last_error": self.last_error, "last_activity_at": self.last_activity_at,
                "caught_up_as_of": self.caught_up_as_of()}
