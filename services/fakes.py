"""An in-memory stand-in for the boto3 DynamoDB client, for fast unit tests of the services.

It implements only what `services.store.Store` sends (get/put/update/delete/query/scan and
TransactWriteItems) and the small expression grammar the services use: conditions joined by AND
(`a = :v`, `a <> :v`, `a >= :v`, `a > :v`, `a <= :v`, `a < :v`, `attribute_exists(a)`,
`attribute_not_exists(a)`) and updates `SET a = :v, b = b + :n, c = c - :n,
d = if_not_exists(d, :z)` / `REMOVE a, b`. Errors are real botocore `ClientError`s with the codes
DynamoDB uses, so the services' error handling runs unchanged. The same services are tested against
moto's server in tests/integration.
"""
from __future__ import annotations

import copy
import re
import threading
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from cqrs.resources import TABLES
from services.store import from_ddb, to_ddb

_CMP = re.compile(r"^\s*(\S+)\s*(=|<>|>=|<=|>|<)\s*(\S+)\s*$")


def _err(code: str, op: str, msg: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": msg}, **extra}, op)


class FakeDynamoDB:
    def __init__(self, prefix: str = ""):
        self.tables: dict[str, dict[tuple, dict[str, Any]]] = {}
        self.keys: dict[str, tuple[str, ...]] = {}
        self.indexes: dict[tuple[str, str], tuple[str, str | None]] = {}
        for t in TABLES:
            name = prefix + t.name
            self.tables[name] = {}
            self.keys[name] = t.key_names
            for ix in t.indexes:
                self.indexes[(name, ix.name)] = (ix.hash_key[0], ix.range_key[0] if ix.range_key else None)
        self.lock = threading.RLock()
        self.calls: list[str] = []  # operation names, for tests that count writes

    # --- helpers -----------------------------------------------------------------------------
    def _table(self, name: str) -> dict[tuple, dict[str, Any]]:
        if name not in self.tables:
            raise _err("ResourceNotFoundException", "Op", f"Requested resource not found: {name}")
        return self.tables[name]

    def _k(self, table: str, key: dict[str, Any]) -> tuple:
        return tuple(key[k] for k in self.keys[table])

    def _eval(self, cond: str | None, item: dict[str, Any] | None, values: dict[str, Any],
              names: dict[str, str]) -> bool:
        if not cond:
            return True
        item = item or {}
        for part in re.split(r"\s+AND\s+", cond.strip()):
            part = part.strip()
            m = re.match(r"^attribute_(not_)?exists\(\s*(\S+?)\s*\)$", part)
            if m:
                present = names.get(m.group(2), m.group(2)) in item
                if present == bool(m.group(1)):
                    return False
                continue
            m = _CMP.match(part)
            if not m:
                raise ValueError(f"fake DynamoDB cannot parse condition {part!r}")
            left = item.get(names.get(m.group(1), m.group(1)))
            right = values[m.group(3)]
            op = m.group(2)
            if left is None:
                if op == "<>":
                    continue
                return False
            ok = {"=": left == right, "<>": left != right, ">=": left >= right, "<=": left <= right,
                  ">": left > right, "<": left < right}[op]
            if not ok:
                return False
        return True

    def _operand(self, tok: str, item: dict[str, Any], values: dict[str, Any], names: dict[str, str]) -> Any:
        tok = tok.strip()
        if tok.startswith(":"):
            return values[tok]
        m = re.match(r"^if_not_exists\(\s*(\S+?)\s*,\s*(\S+?)\s*\)$", tok)
        if m:
            attr = names.get(m.group(1), m.group(1))
            return item[attr] if attr in item else self._operand(m.group(2), item, values, names)
        attr = names.get(tok, tok)
        if attr not in item:
            raise _err("ValidationException", "UpdateItem",
                       "The provided expression refers to an attribute that does not exist in the item")
        return item[attr]

    def _apply(self, update: str, item: dict[str, Any], values: dict[str, Any], names: dict[str, str]) -> None:
        for section, body in re.findall(r"(SET|REMOVE)\s+(.*?)(?=\s+(?:SET|REMOVE)\s+|$)", update.strip(), re.DOTALL):
            parts, depth, cur = [], 0, ""
            for ch in body:
                depth += ch == "("
                depth -= ch == ")"
                if ch == "," and depth == 0:
                    parts.append(cur)
                    cur = ""
                else:
                    cur += ch
            parts.append(cur)
            if section == "REMOVE":
                for p in parts:
                    item.pop(names.get(p.strip(), p.strip()), None)
                continue
            new: dict[str, Any] = {}
            for p in parts:
                target, expr = p.split("=", 1)
                expr = expr.strip()
                depth, split = 0, -1
                for i, ch in enumerate(expr):
                    depth += ch == "("
                    depth -= ch == ")"
                    if ch in "+-" and depth == 0 and i > 0:
                        split = i
                if split > 0:
                    a = self._operand(expr[:split], item, values, names)
                    b = self._operand(expr[split + 1:], item, values, names)
                    val = a + b if expr[split] == "+" else a - b
                else:
                    val = self._operand(expr, item, values, names)
                new[names.get(target.strip(), target.strip())] = val
            item.update(new)

    # --- the API -----------------------------------------------------------------------------
    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool = False, **_: Any) -> dict[str, Any]:
        with self.lock:
            item = self._table(TableName).get(self._k(TableName, from_ddb(Key) or {}))
            return {"Item": to_ddb(item)} if item is not None else {}

    def _check(self, TableName: str, key: tuple, kw: dict[str, Any], op: str) -> dict[str, Any] | None:
        current = self._table(TableName).get(key)
        values = from_ddb(kw.get("ExpressionAttributeValues")) or {}
        if not self._eval(kw.get("ConditionExpression"), current, values, kw.get("ExpressionAttributeNames") or {}):
            raise _err("ConditionalCheckFailedException", op, "The conditional request failed")
        return current

    def put_item(self, TableName: str, Item: dict, **kw: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append("PutItem")
            item = from_ddb(Item) or {}
            key = self._k(TableName, item)
            self._check(TableName, key, kw, "PutItem")
            self.tables[TableName][key] = item
            return {}

    def update_item(self, TableName: str, Key: dict, UpdateExpression: str, ReturnValues: str = "NONE",
                    **kw: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append("UpdateItem")
            k = from_ddb(Key) or {}
            key = self._k(TableName, k)
            current = self._check(TableName, key, kw, "UpdateItem")
            item = copy.deepcopy(current) if current is not None else dict(k)
            self._apply(UpdateExpression, item, from_ddb(kw.get("ExpressionAttributeValues")) or {},
                        kw.get("ExpressionAttributeNames") or {})
            self.tables[TableName][key] = item
            return {"Attributes": to_ddb(item)} if ReturnValues == "ALL_NEW" else {}

    def delete_item(self, TableName: str, Key: dict, ReturnValues: str = "NONE", **kw: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append("DeleteItem")
            key = self._k(TableName, from_ddb(Key) or {})
            current = self._check(TableName, key, kw, "DeleteItem")
            self.tables[TableName].pop(key, None)
            return {"Attributes": to_ddb(current)} if current is not None and ReturnValues == "ALL_OLD" else {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append("TransactWriteItems")
            reasons, failed = [], False
            for entry in TransactItems:
                (kind, kw), = entry.items()
                t = kw["TableName"]
                key = self._k(t, from_ddb(kw["Item"] if kind == "Put" else kw["Key"]) or {})
                try:
                    self._check(t, key, kw, kind)
                    reasons.append({"Code": "None"})
                except ClientError:
                    failed = True
                    reasons.append({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"})
            if failed:
                codes = ", ".join(r["Code"] for r in reasons)
                raise _err("TransactionCanceledException", "TransactWriteItems",
                           f"Transaction cancelled, please refer cancellation reasons for specific reasons "
                           f"[{codes}]", CancellationReasons=reasons)
            for entry in TransactItems:
                (kind, kw), = entry.items()
                kw = {k: v for k, v in kw.items() if k != "ConditionExpression"}
                if kind == "Put":
                    self.put_item(**kw)
                elif kind == "Update":
                    self.update_item(**kw)
                elif kind == "Delete":
                    self.delete_item(**kw)
            return {}

    def query(self, TableName: str, KeyConditionExpression: str, ExpressionAttributeValues: dict,
              IndexName: str | None = None, **kw: Any) -> dict[str, Any]:
        with self.lock:
            values = from_ddb(ExpressionAttributeValues) or {}
            names = kw.get("ExpressionAttributeNames") or {}
            first = _CMP.match(KeyConditionExpression.split(" AND ")[0])
            assert first and first.group(2) == "=", "a key condition starts with the hash key equality"
            hk_name, hk_value = str(names.get(first.group(1), first.group(1))), values[first.group(3)]
            items = [i for i in self._table(TableName).values()
                     if i.get(hk_name) == hk_value and self._eval(KeyConditionExpression, i, values, names)]
            if IndexName:
                hk, rk = self.indexes[(TableName, IndexName)]
                items = [i for i in items if hk in i and (rk is None or rk in i)]
                if rk:
                    items.sort(key=lambda i: i[rk], reverse=not kw.get("ScanIndexForward", True))
            if kw.get("Limit"):
                items = items[: kw["Limit"]]
            return {"Items": [to_ddb(i) for i in items]}

    def scan(self, TableName: str, **_: Any) -> dict[str, Any]:
        with self.lock:
            return {"Items": [to_ddb(i) for i in self._table(TableName).values()]}

    # test helper
    def item(self, table: str, **key: Any) -> dict[str, Any] | None:
        return copy.deepcopy(self.tables[table].get(self._k(table, key)))


ZERO = Decimal(0)
