"""The one DynamoDB adapter every service writes through: Python values in and out (Decimal, never
float), conditional writes, and an optional change listener.

The listener is how the in-process bus (`services.bus.InlineBus`) sees the same changes the stream
would carry: each successful write reports (table, operation, key, new image, old image). In AWS and
with the event pipe, nobody listens and domain events come from the stream instead.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from cqrs.resources import TABLES_BY_NAME
from cqrs.settings import Settings

_ser = TypeSerializer()
_de = TypeDeserializer()


def to_ddb(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items()}


def from_ddb(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _de.deserialize(v) for k, v in item.items()}


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def is_conditional_failure(e: ClientError) -> bool:
    return error_code(e) == "ConditionalCheckFailedException"


def cancellation_codes(e: ClientError) -> list[str]:
    """The per-item reasons of a TransactionCanceledException ("None" for items that passed)."""
    reasons = e.response.get("CancellationReasons") or []
    if reasons:
        return [str(r.get("Code") or "None") for r in reasons]
    # Some servers only put the reasons in the message: "... reasons [None, ConditionalCheckFailed]".
    msg = str(e.response.get("Error", {}).get("Message", ""))
    if "[" in msg and "]" in msg:
        return [p.strip() for p in msg[msg.rindex("[") + 1:msg.rindex("]")].split(",")]
    return []


@dataclass(frozen=True)
class Change:
    table: str  # bare table name
    operation: str  # INSERT | MODIFY | REMOVE
    key: dict[str, Any]
    new_image: dict[str, Any] | None
    old_image: dict[str, Any] | None


Listener = Callable[[Change], None]


class Store:
    """Thin wrapper over an injected boto3 DynamoDB client."""

    def __init__(self, client: Any, settings: Settings | None = None, listener: Listener | None = None):
        self.client = client
        self.settings = settings or Settings()
        self.listener = listener

    def name(self, table: str) -> str:
        return self.settings.table(table)

    def _key(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in TABLES_BY_NAME[table].key_names}

    def _emit(self, table: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> None:
        if self.listener is None:
            return
        image = new if new is not None else old
        assert image is not None
        if new is None:
            op = "REMOVE"
        else:
            # Every aggregate's first write has Version 1 (movements are immutable at 1).
            op = "INSERT" if new.get("Version") == 1 else "MODIFY"
        self.listener(Change(table, op, self._key(table, image), new, old))

    # --- reads ----------------------------------------------------------------------------------
    def get(self, table: str, key: Mapping[str, Any], consistent: bool = True) -> dict[str, Any] | None:
        r = self.client.get_item(TableName=self.name(table), Key=to_ddb(key), ConsistentRead=consistent)
        return from_ddb(r.get("Item"))

    def query(self, table: str, index: str | None, key_condition: str, values: Mapping[str, Any],
              names: Mapping[str, str] | None = None, limit: int | None = None,
              newest_first: bool = False) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.name(table), "KeyConditionExpression": key_condition,
                                  "ExpressionAttributeValues": to_ddb(values), "ScanIndexForward": not newest_first}
        if limit:
            kwargs["Limit"] = limit
        if index:
            kwargs["IndexName"] = index
        if names:
            kwargs["ExpressionAttributeNames"] = dict(names)
        out: list[dict[str, Any]] = []
        while True:
            r = self.client.query(**kwargs)
            out.extend(from_ddb(i) or {} for i in r.get("Items", []))
            if not r.get("LastEvaluatedKey") or (limit and len(out) >= limit):
                return out
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    def scan(self, table: str) -> Iterable[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.name(table)}
        while True:
            r = self.client.scan(**kwargs)
            for i in r.get("Items", []):
                yield from_ddb(i) or {}
            if not r.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    # --- writes (each raises ClientError on a failed condition) ------------------------------
    def put(self, table: str, item: Mapping[str, Any], condition: str | None = None,
            values: Mapping[str, Any] | None = None, names: Mapping[str, str] | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name(table), "Item": to_ddb(item)}
        _cond(kwargs, condition, values, names)
        self.client.put_item(**kwargs)
        self._emit(table, dict(item))

    def update(self, table: str, key: Mapping[str, Any], update: str, condition: str | None = None,
               values: Mapping[str, Any] | None = None, names: Mapping[str, str] | None = None
               ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"TableName": self.name(table), "Key": to_ddb(key), "UpdateExpression": update,
                                  "ReturnValues": "ALL_NEW"}
        _cond(kwargs, condition, values, names)
        new = from_ddb(self.client.update_item(**kwargs).get("Attributes")) or {}
        self._emit(table, new)
        return new

    def delete(self, table: str, key: Mapping[str, Any], condition: str | None = None,
               values: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {"TableName": self.name(table), "Key": to_ddb(key), "ReturnValues": "ALL_OLD"}
        _cond(kwargs, condition, values, None)
        old = from_ddb(self.client.delete_item(**kwargs).get("Attributes"))
        if old is not None:
            self._emit(table, None, old)
        return old

    def transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems over `tx_update`/`tx_put`/`tx_check` entries (bare table names).
        After success the listener sees every written item (updated ones re-read: a transaction
        returns no images)."""
        wire = [self._wire(i) for i in items]
        self.client.transact_write_items(TransactItems=wire)
        if self.listener is None:
            return
        for i in items:
            if "Put" in i:
                self._emit(i["Put"]["table"], dict(i["Put"]["item"]))
            elif "Update" in i and i["Update"]["table"] != "ProductCatalog":
                # Product rows derive no domain events: not worth a read per line.
                new = self.get(i["Update"]["table"], i["Update"]["key"])
                if new is not None:
                    self._emit(i["Update"]["table"], new)

    def _wire(self, i: dict[str, Any]) -> dict[str, Any]:
        (kind, spec), = i.items()
        out: dict[str, Any] = {"TableName": self.name(spec["table"])}
        if kind == "Put":
            out["Item"] = to_ddb(spec["item"])
        else:
            out["Key"] = to_ddb(spec["key"])
        if kind == "Update":
            out["UpdateExpression"] = spec["update"]
        _cond(out, spec.get("condition"), spec.get("values"), spec.get("names"))
        return {kind: out}


def _cond(kwargs: dict[str, Any], condition: str | None, values: Mapping[str, Any] | None,
          names: Mapping[str, str] | None) -> None:
    if condition:
        kwargs["ConditionExpression"] = condition
    if values:
        kwargs["ExpressionAttributeValues"] = to_ddb(values)
    if names:
        kwargs["ExpressionAttributeNames"] = dict(names)


def tx_update(table: str, key: Mapping[str, Any], update: str, condition: str | None = None,
              values: Mapping[str, Any] | None = None, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"Update": {"table": table, "key": dict(key), "update": update, "condition": condition,
                       "values": values, "names": names}}


def tx_put(table: str, item: Mapping[str, Any], condition: str | None = None,
           values: Mapping[str, Any] | None = None, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"Put": {"table": table, "item": dict(item), "condition": condition, "values": values, "names": names}}


ONE = Decimal(1)
