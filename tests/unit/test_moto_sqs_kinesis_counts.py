"""moto_server patch 11: SQS's retention check on receive answers what moto's answers without counting
the queue, and a Kinesis shard's first/last sequence numbers equal moto's key-list reading."""
from __future__ import annotations

import random
import time

import pytest
from moto.kinesis.models import Shard
from moto.sqs import models as sqs_models

from cqrs import moto_server


def test_retention_check_equals_moto_without_counting_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_server.apply_performance()
    check = sqs_models.SQSBackend.is_message_valid_based_on_retention_period
    original = check.__wrapped__  # moto's, under the _no_counts wrapper
    backend = sqs_models.SQSBackend("us-east-1", "123456789012")
    backend.create_queue("q", MessageRetentionPeriod="120")
    for i in range(50):
        backend.send_message("q", f"m{i}")
    received = backend.receive_message("q", 10, 0, 30)  # some in flight, some visible
    assert len(received) == 10
    queue = backend.get_queue("q")
    rng = random.Random(3)
    for m in queue._messages:  # some past the retention period, some not
        m.sent_timestamp = int((time.time() - rng.choice([0, 60, 119, 121, 1000])) * 1000)
    expected = [original(backend, "q", m) for m in queue._messages]
    assert True in expected and False in expected

    walked = []
    for prop in ("approximate_number_of_messages", "approximate_number_of_messages_delayed",
                 "approximate_number_of_messages_not_visible"):
        real = getattr(sqs_models.Queue, prop)
        monkeypatch.setattr(sqs_models.Queue, prop,
                            property(lambda q, real=real, prop=prop: walked.append(prop) or real.fget(q)))
    assert [check(backend, "q", m) for m in queue._messages] == expected
    assert walked == []  # no walk of the queue per message
    assert backend.get_queue_attributes("q", ["All"])["ApproximateNumberOfMessagesNotVisible"] == 10
    assert walked  # counts still there for GetQueueAttributes


def test_shard_sequence_ends_equal_moto_key_list() -> None:
    moto_server._kinesis_reads()
    rng = random.Random(11)
    for trial in range(20):
        shard = Shard(0, 0, 2**128, "123456789012", "us-east-1")
        assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (0, 0)
        for i in range(rng.randrange(1, 200)):
            assert shard.put_record(f"pk{i}", "ZGF0YQ==", None) == str(i + 1)
        for k in rng.sample(list(shard.records), min(3, len(shard.records) - 1)):
            del shard.records[k]  # moto's reading is by position, not by value
        assert shard.get_min_sequence_number() == next(iter(shard.records)), trial
        assert shard.get_max_sequence_number() == list(shard.records.keys())[-1], trial


def test_deletes_answer_what_moto_answers() -> None:
    # Patch 13: the same queue, the same deletes (current, older and unknown handles, twice), the same
    # outcome as moto's own delete_message: errors, remaining messages, bookkeeping.
    moto_server.apply_performance()
    patched = sqs_models.Queue.delete_message
    original = patched.__wrapped__

    def run(delete: object) -> tuple[list[str], list[str], int, int]:
        backend = sqs_models.SQSBackend("us-east-1", "123456789012")
        backend.create_queue("q")
        for i in range(40):
            backend.send_message("q", f"m{i}")
        first = backend.receive_message("q", 10, 0, 0)  # visible again at once: received again below
        second = backend.receive_message("q", 10, 0, 30)
        queue = backend.get_queue("q")
        rng = random.Random(5)
        handles = [m.receipt_handle for m in first + second] + ["not-a-handle"]
        rng.shuffle(handles)
        outcomes = []
        for h in handles + handles[:5]:
            try:
                delete(queue, h)
                outcomes.append("ok")
            except sqs_models.ReceiptHandleIsInvalid:
                outcomes.append("invalid")
        return (outcomes, sorted(m.body for m in queue._messages), len(queue.deleted_messages),
                len(queue.pending_messages))

    got, want = run(patched), run(original)
    assert got == want
    assert "invalid" in got[0] and got[1]  # an unknown handle refused; messages never received remain
