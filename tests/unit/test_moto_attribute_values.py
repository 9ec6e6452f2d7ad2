"""moto_server patch 14: DynamoDB responses with the plain AttributeValue kinds written as they are equal
what moto's service-model walk writes, byte for byte, for every kind (B and BS still walk)."""
from __future__ import annotations

import boto3
from moto import mock_aws
from moto.core import serialize as ser

from cqrs import moto_server

ITEMS = [
    {"pk": {"S": "a"}, "sk": {"N": "1"}, "s": {"S": ""}, "n": {"N": "-12.50"}, "t": {"BOOL": True},
     "f": {"BOOL": False}, "z": {"NULL": True}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2.5"]},
     "l": {"L": [{"S": "q"}, {"N": "3"}, {"L": []}, {"M": {"k": {"BOOL": False}}}]},
     "m": {"M": {"inner": {"M": {"deep": {"SS": ["d"]}}}, "e": {"M": {}}}}},
    {"pk": {"S": "a"}, "sk": {"N": "2"}, "b": {"B": b"\x00\xffbytes"}, "bs": {"BS": [b"1", b"2"]},
     "l": {"L": [{"B": b"in a list"}, {"S": "caf\u00e9 \"q\" \\ \n"}]}},
]


def _responses() -> list[bytes]:
    """The raw bodies of a Query, a GetItem and a Scan on ITEMS."""
    bodies: list[bytes] = []
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "N"}])
        for item in ITEMS:
            ddb.put_item(TableName="t", Item=item)
        ddb.meta.events.register("after-call.dynamodb.*", lambda http_response, **_: bodies.append(http_response.content))
        ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
        ddb.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
        ddb.scan(TableName="t")
    return bodies


def test_plain_attribute_values_are_written_as_moto_writes_them(monkeypatch) -> None:
    moto_server.apply_performance()
    patched = ser.BaseJSONSerializer._serialize_type_structure
    picks: list[str] = []
    get_value = ser.ResponseSerializer.get_value
    monkeypatch.setattr(ser.ResponseSerializer, "get_value",
                        lambda self, value, key, shape: picks.append(key) or get_value(self, value, key, shape))
    fast = _responses()
    fast_picks = len(picks)
    monkeypatch.setattr(ser.BaseJSONSerializer, "_serialize_type_structure", patched.__wrapped__)
    picks.clear()
    assert _responses() == fast  # moto's own walk writes the same bytes
    assert len(fast) == 3 and b'"caf' in fast[0] and b'"B": "AP9ieXRlcw=="' in fast[0]
    assert fast_picks < len(picks) / 3  # and the plain values did skip it


def test_method_names_are_listed_once_per_class_and_equal_moto_listing() -> None:
    from moto.core import responses as core_responses
    from moto.core.utils import method_names_from_class
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    moto_server.apply_performance()
    cached = core_responses.method_names_from_class
    assert cached is not method_names_from_class  # patch 15: the one call_action uses
    for cls in (DynamoHandler, SQSResponse):
        assert cached(cls) == method_names_from_class(cls) and cached(cls) is cached(cls)


def test_plain_attribute_values_are_parsed_as_moto_parses_them(monkeypatch) -> None:
    """Patch 19: the request side. Binary values arrive base64-encoded and still take moto's walk (it
    decodes them); odd shapes (a second key, a wrong type) too, so moto's own checks see them."""
    import base64
    import json

    from moto.core import parse
    from moto.core.utils import get_service_model

    moto_server.apply_performance()
    op = get_service_model("dynamodb").operation_model("PutItem")
    b64 = base64.b64encode(b"\x00\xff").decode()
    odd = {"pk": {"S": "a"}, "two": {"S": "x", "N": "1"}, "wrong": {"S": 5}, "none": {"S": None},
           "b": {"B": b64}, "bs": {"BS": [b64]}, "lb": {"L": [{"S": "x"}, {"B": b64}]}}
    bodies = [json.dumps({"TableName": "t", "Item": item}).encode() for item in ITEMS[:1] + [odd]]
    fast = [parse.JSONParser(op).parse({"body": b}) for b in bodies]
    monkeypatch.setattr(parse.BaseJSONParser, "_parse_structure", parse.BaseJSONParser._parse_structure.__wrapped__)
    assert [parse.JSONParser(op).parse({"body": b}) for b in bodies] == fast
    assert fast[0]["Item"] == ITEMS[0] and fast[1]["Item"]["b"] == {"B": b"\x00\xff"}
    assert fast[1]["Item"]["lb"] == {"L": [{"S": "x"}, {"B": b"\x00\xff"}]}
