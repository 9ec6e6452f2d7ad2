"""moto_server patches 16-18 (response members read from plain dicts, the request-id regex skipped where
a body has no <RequestId>, Query's item copies built directly): each gives what moto's own code gives,
checked against that code (kept as `__wrapped__`) on the same input."""
from __future__ import annotations

import copy
import datetime as dt

from moto.core import serialize as ser
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.moto_api._internal import mock_random

from cqrs import moto_server


def _serialize(service: str, operation: str, result: object) -> bytes:
    model = get_service_model(service).operation_model(operation)
    serializer = ser.get_serializer_class(service, model.metadata["protocol"])(
        operation_model=model, value_picker=ser.XFormedAttributePicker())
    body = serializer.serialize(result)["body"]
    return body if isinstance(body, bytes) else body.encode()


class _Record:
    """A model object (not a dict): its members are found by moto's alias chain, as before."""

    def __init__(self) -> None:
        self.data = b"payload"
        self.partition_key = "pk"
        self.sequence_number = "42"
        self.approximate_arrival_timestamp = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


RESULTS = [
    ("dynamodbstreams", "GetRecords", {"Records": [
        {"eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
         "awsRegion": "us-east-1", "dynamodb": {
             "ApproximateCreationDateTime": dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
             "Keys": {"id": {"S": "a"}}, "NewImage": {"id": {"S": "a"}, "n": {"N": "1.50"}},
             "SequenceNumber": "100", "SizeBytes": 12, "StreamViewType": "NEW_AND_OLD_IMAGES"}},
        # members under their snake_case names only: moto finds them by its xform alias
        {"event_id": "2", "event_name": "REMOVE", "dynamodb": {"keys": {"id": {"S": "b"}},
                                                              "sequence_number": "101", "size_bytes": 3}},
    ], "NextShardIterator": "it-1"}),
    # A list member whose shape name differs from its key: moto looks for the shape's name first.
    ("kinesis", "GetRecords", {"Records": [{"Data": b"x", "PartitionKey": "k", "SequenceNumber": "1"}],
                               "RecordList": [{"Data": b"y", "PartitionKey": "k2", "SequenceNumber": "2"}],
                               "NextShardIterator": "n", "MillisBehindLatest": 0}),
    ("kinesis", "GetRecords", {"Records": [_Record()], "NextShardIterator": None, "MillisBehindLatest": 5}),
    ("events", "PutEvents", {"FailedEntryCount": 1, "Entries": [{"EventId": "e1"},
                                                                {"ErrorCode": "X", "ErrorMessage": "bad"}]}),
]


def test_dict_members_are_found_as_moto_finds_them(monkeypatch) -> None:
    moto_server.apply_performance()
    patched = ser.ResponseSerializer.get_value
    fast = [_serialize(*r) for r in RESULTS]
    monkeypatch.setattr(ser.ResponseSerializer, "get_value", patched.__wrapped__)
    assert [_serialize(*r) for r in RESULTS] == fast
    assert b'"PartitionKey": "k2"' in fast[1] and b'"PartitionKey": "k"' not in fast[1]
    assert b'"eventID": "2"' in fast[0] and b'"OldImage"' not in fast[0]


def test_request_id_regex_runs_only_where_a_body_has_the_tag() -> None:
    moto_server.apply_performance()
    enrich = BaseResponse._enrich_response
    bodies = ['{"Records": ["<RequestId> in JSON text is left alone?"]}', '{"a": 1}',
              "<R><RequestId>old</RequestId></R>", b"<RequestId>bytes</RequestId>"]
    for body in bodies:
        mock_random.seed(7)
        fast = enrich({"status": 200}, body)
        mock_random.seed(7)
        assert fast == enrich.__wrapped__({"status": 200}, body)
        assert fast[0]["status"] == "200" and len(fast[0]["x-amzn-requestid"]) == 52
    assert "old" not in enrich({}, bodies[2])[1]


def test_item_copies_equal_moto_copies_and_share_nothing_with_the_table() -> None:
    moto_server.apply_performance()
    item = Item(DynamoType({"S": "k"}), DynamoType({"N": "2"}), {
        "k": {"S": "k"}, "r": {"N": "2"}, "s": {"S": "x"}, "b": {"B": b"\x00"}, "t": {"BOOL": True},
        "z": {"NULL": True}, "ss": {"SS": ["a", "b"]}, "l": {"L": [{"N": "1"}, {"M": {"q": {"S": "v"}}}]},
        "m": {"M": {"deep": {"L": [{"NS": ["1", "2"]}]}}}})
    item.attrs["alias"] = item.attrs["s"]  # one value under two names: copied once, as moto's memo does
    ours = copy.deepcopy([item, item])
    theirs = [Item.__deepcopy__.__wrapped__(item, memo := {})]
    theirs.append(copy.deepcopy(item, memo))
    for a, b in zip(ours, theirs):
        assert type(a) is Item and a.to_json() == b.to_json() == item.to_json()
        assert a.hash_key == item.hash_key and a.range_key == item.range_key and a.hash_key is not item.hash_key
        assert (a.attrs["alias"] is a.attrs["s"]) == (b.attrs["alias"] is b.attrs["s"]) is True
    assert ours[0] is ours[1] and theirs[0] is theirs[1]
    copied = ours[0]
    copied.attrs["l"].value[1].value["q"].value = "changed"
    copied.attrs["ss"].value.append("c")
    assert item.attrs["l"].value[1].value["q"].value == "v" and item.attrs["ss"].value == ["a", "b"]
    assert type(copied.attrs) is type(item.attrs)


def test_dynamodb_results_are_made_plain_as_moto_makes_them() -> None:
    """Patch 20: the same plain values as moto's `dynamo_to_dict`, binary (raw or base64) included."""
    import base64
    from decimal import Decimal

    from moto.dynamodb import responses as ddb_responses
    from moto.dynamodb.models import utilities

    moto_server.apply_performance()
    item = Item(DynamoType({"S": "k"}), None, {
        "k": {"S": "k"}, "n": {"N": "-1.50"}, "t": {"BOOL": False}, "z": {"NULL": True}, "ss": {"SS": ["a"]},
        "b64": {"B": base64.b64encode(b"\x00\x01").decode()}, "bs": {"BS": [base64.b64encode(b"x").decode()]},
        "l": {"L": [{"M": {"q": {"N": "2"}}}, {"B": base64.b64encode(b"y").decode()}]}})
    item.attrs["raw"] = DynamoType({"B": b"\xff"})
    result = {"Count": 1, "Items": [item.attrs], "Item": item, "When": dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
              "Amount": Decimal("0.1"), "Ratio": 0.5, "Empty": None, "Nested": [[{"k": DynamoType({"S": "v"})}]]}
    fast = utilities.dynamo_to_dict(result)
    assert fast == utilities.dynamo_to_dict.__wrapped__(result)
    assert ddb_responses.dynamo_to_dict is utilities.dynamo_to_dict  # the name DynamoResult calls
    assert fast["Items"][0]["b64"] == {"B": b"\x00\x01"} and fast["Items"][0]["raw"] == {"B": b"\xff"}
    assert fast["Item"]["Attributes"]["k"] == {"S": "k"}  # a model object: through its to_json, as moto


def test_value_sizes_and_cast_values_are_moto_s() -> None:
    """Patch 21: the same size and cast value as moto's own for every kind, multi-byte strings included."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    moto_server.apply_performance()
    values = [{"S": "caf\u00e9 \u2603"}, {"S": ""}, {"N": "-12.50"}, {"N": "1E+3"}, {"BOOL": True}, {"NULL": True},
              {"SS": ["a", "bb"]}, {"NS": ["1", "2.5"]}, {"B": b"\x00\x01"}, {"L": [{"S": "x"}, {"N": "2"}]},
              {"M": {"k": {"S": "v"}, "n": {"N": "3"}}}]
    for raw in values:
        v = DynamoType(raw)
        assert v.size() == DynamoType.size.__wrapped__(v)
        assert v.cast_value == DynamoType.cast_value.fget.__wrapped__(v)
    assert DynamoType({"S": "\u00e9"}).size() == 2 and DynamoType({"N": "10"}).cast_value == 10


def test_the_served_app_has_no_debug_mode_or_cors_and_answers_as_moto() -> None:
    import json

    from werkzeug.test import Client

    moto_server.apply()
    moto_server.apply_performance()
    client = Client(moto_server.app())
    headers = {"Host": "dynamodb.us-east-1.amazonaws.com", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": "AWS4-HMAC-SHA256 Credential=t/20261127/us-east-1/dynamodb/aws4_request, "
                                "SignedHeaders=host, Signature=x"}
    ok = client.post("/", headers={**headers, "X-Amz-Target": "DynamoDB_20120810.ListTables",
                                   "Origin": "http://localhost:8000"}, data="{}")
    assert ok.status_code == 200 and "TableNames" in json.loads(ok.data)
    assert "Access-Control-Allow-Origin" not in ok.headers  # no CORS (moto's apps answer any origin)
    missing = client.post("/", headers={**headers, "X-Amz-Target": "DynamoDB_20120810.DescribeTable"},
                          data=json.dumps({"TableName": "no-such-table"}))
    assert missing.status_code == 400 and b"ResourceNotFoundException" in missing.data  # moto's own error answer
    served = client.application.get_application({"HTTP_HOST": "dynamodb.us-east-1.amazonaws.com",
                                                 "PATH_INFO": "/", "REQUEST_METHOD": "POST",
                                                 "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.ListTables"})
    assert served.debug is False
