"""Pure parts of the local event source mappings: partial batch responses, fault shaping, the on-failure
invocation record, and the event pipe's handling of PutEvents' FailedEntryCount."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ingestion.esm.destinations import invocation_record
from ingestion.esm.invoke import BatchOutcome, HandlerImportError, LambdaContext, failed_from, load_handler
from ingestion.esm.sources import SourceRecord
from ingestion.faults import Faults, InjectedCrash
from ingestion.pipe import handle, to_entry
from tests.conftest import load_event

IDS = ["11", "12", "13", "14"]


def test_partial_batch_response_checkpoints_at_lowest_failed_item():
    resp = {"batchItemFailures": [{"itemIdentifier": "14"}, {"itemIdentifier": "12"}]}
    assert failed_from(resp, IDS, True)[0] == 1
    assert failed_from({"batchItemFailures": []}, IDS, True)[0] == BatchOutcome.OK
    assert failed_from(None, IDS, True)[0] == BatchOutcome.OK


@pytest.mark.parametrize("ident", ["", None, "99"])
def test_empty_or_unknown_item_identifier_fails_the_whole_batch(ident):
    k, why = failed_from({"batchItemFailures": [{"itemIdentifier": ident}]}, IDS, True)
    assert k == BatchOutcome.WHOLE and "whole batch" in why


def test_partial_responses_ignored_unless_reported():
    assert failed_from({"batchItemFailures": [{"itemIdentifier": "12"}]}, IDS, False)[0] == BatchOutcome.OK


def test_context_like_lambdas():
    ctx = LambdaContext("f", timeout_s=3)
    assert ctx.function_name == "f" and ctx.aws_request_id and 0 < ctx.get_remaining_time_in_millis() <= 3000
    assert ctx.invoked_function_arn.endswith(":function:f")


def test_handler_that_does_not_import_is_a_clear_error():
    with pytest.raises(HandlerImportError, match="does not import: ModuleNotFoundError"):
        load_handler("no_such_package.mod:handle")


def _recs(keys: str) -> list[SourceRecord]:
    return [SourceRecord(str(i), k, 0.0, {"kinesis": {"data": "e30=", "sequenceNumber": str(i)}})
            for i, k in enumerate(keys)]


def test_reorder_fault_keeps_order_per_key_and_changes_it_across_keys():
    out = Faults(reorder_key_disjoint=True).shape(_recs("abab c"))
    assert [r.seq for r in out] != [str(i) for i in range(6)]
    for key in "abc ":
        assert [int(r.seq) for r in out if r.partition_key == key] == sorted(
            int(r.seq) for r in out if r.partition_key == key)


def test_crash_and_poison_faults_hit_the_configured_record():
    f = Faults(crash_at_record=3, poison_record_at=2)
    with pytest.raises(InjectedCrash):
        f.shape(_recs("abcd"))
    again = f.shape(_recs("abcd"))  # crashes once, the poison stays poisoned
    assert again[1].event_record["kinesis"]["data"] != "e30=" and again[0].event_record["kinesis"]["data"] == "e30="


def test_invocation_record_has_awss_fields():
    rec = invocation_record(function_arn="arn:aws:lambda:us-east-1:123456789012:function:f", source_kind="kinesis",
                            source_arn="arn:aws:kinesis:us-east-1:123456789012:stream/changes", shard_id="s-0",
                            records=_recs("ab"), condition="RetryAttemptsExhausted", invoke_count=3,
                            function_error="Unhandled", error_message="boom")
    assert rec["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert rec["KinesisBatchInfo"]["startSequenceNumber"] == "0" and rec["KinesisBatchInfo"]["batchSize"] == 2
    assert rec["responseContext"]["functionError"] == "Unhandled" and rec["version"] == "1.0"


class _RejectingEvents:
    """Fake EventBridge client (a deliberate fault stub: moto never returns FailedEntryCount > 0)."""

    def __init__(self, reject_detail_type: str):
        self.reject, self.entries = reject_detail_type, []

    def put_events(self, Entries):
        self.entries.extend(Entries)
        res = [{"ErrorCode": "InternalException", "ErrorMessage": "x"} if e["DetailType"] == self.reject
               else {"EventId": "e"} for e in Entries]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in res), "Entries": res}


def test_event_pipe_reports_rejected_and_undecodable_records():
    from cqrs.settings import Settings

    def mapper(change):
        return [{"Source": "cqrs.test", "DetailType": change.table, "Detail": {"Amount": change.image.get("Amount")}}]

    client = _RejectingEvents("Cart")
    resp = handle(load_event("kinesis_ddb_event_with_undecodable.json"), None, events_client=client,
                  settings=Settings(), mapper=mapper)
    failed = [f["itemIdentifier"] for f in resp["batchItemFailures"]]
    assert failed == ["49656783930150203476301298478932746253765917842187427844",  # undecodable
                      "49656783930150203476301298478932746253765917842187427843"]  # Cart event rejected
    tx = client.entries[0]
    assert tx["EventBusName"] == "cqrs-events" and '"99999999999999999999999999999999999.99"' in tx["Detail"]


def test_to_entry_keeps_decimals_exact():
    e = to_entry({"Source": "s", "DetailType": "d", "Detail": {"x": Decimal("0.1000000000000000000000000000000000001")}}, "b")
    assert e["Detail"] == '{"x": "0.1000000000000000000000000000000000001"}'


def test_sqs_maximum_concurrency_is_lambdas_range_on_sqs_mappings_only():
    import pytest

    from ingestion.functions import Mapping

    assert Mapping("sqs", "q", maximum_concurrency=2).maximum_concurrency == 2
    with pytest.raises(ValueError, match="2-1000"):
        Mapping("sqs", "q", maximum_concurrency=1)
    with pytest.raises(ValueError, match="SQS mappings only"):
        Mapping("kinesis", "changes_stream", maximum_concurrency=5)
