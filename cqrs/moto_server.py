"""moto's server with two fixes for long-running local stacks, started by `cqrs.stack` instead of
`python -m moto.server` (same arguments).

1. TransactWriteItems: moto snapshots every table a transaction names with `copy.deepcopy` (once per
   transaction item, stream records included) and on cancellation swaps the live table for the copy.
   That costs O(table size) per item (seconds per transaction after a few thousand changes) and, worse,
   the swap orphans the table's stream shard: shard iterators already handed out keep reading the old
   shard, so after the first cancelled transaction no further change of that table reaches a stream
   reader. Here only the items the transaction names are saved, and a cancellation restores them (and
   trims the stream records it added) in place, on the same table and shard objects.
2. Atomic conditional writes: moto's threaded server checks a ConditionExpression and writes without a
   lock, so two concurrent conditional updates of one item can both pass (a lost update: optimistic
   concurrency silently broken). Item reads and writes are serialized here, as DynamoDB guarantees
   per item.
3. DynamoDB Streams: every GetRecords stores a new shard iterator forever (unbounded memory). Only the
   most recent ones are kept (AWS expires iterators after 15 minutes anyway).
4. Stream reads take the same lock as item writes. A transaction appends its stream records as it
   goes and a cancellation trims them; an unlocked GetRecords in between read records of writes that
   never persisted (read models ahead of the table) and, since moto numbers records by list position,
   its next iterator then pointed past the sequence numbers the trim handed out again, so the next
   real changes were skipped while the reader looked caught up.

Performance only (measured with py-spy on a loaded stack, `BENCHMARKS.md` section 2), behaviour unchanged:
5. SQS: moto builds a queue's full attribute dict, counting visible/delayed/in-flight messages by walking
   the whole queue, on every SendMessage (only to read ContentBasedDeduplication), and each message's
   visibility check builds two datetimes. With a few thousand messages queued every send cost tens of ms
   (the EventBridge rule -> second-look queue fan-out dominated moto's CPU). Sends skip the counts, and
   the visibility checks compare epoch milliseconds directly.
6. Request routing: moto resolves the backend of every request by listing its package directory and
   matching ~150 URL patterns; the answer depends on the host string only, so it is memoised.
7. EventBridge input transformers re-compile their JSONPath expressions (a yacc parser) per event:
   compiled expressions are cached.
8. Query on a global secondary index: moto sorts and walks every item of the table per query (O(table);
   the Second Look's history query made this the next cost, growing with the run). A hash index per
   GSI key attribute, built on first use and kept by the item write paths, supplies the candidates;
   moto's own matching, sorting and paging then run on them unchanged. An entry is only a hint: each
   candidate is looked up and re-checked, so a stale one (a delete, a changed key) is harmless.
9. Successful requests are not logged (one formatted line per request on a busy stack); errors still are.
10. Kinesis GetRecords walks the shard from its first record per read: it starts at the iterator instead.
11. SQS ReceiveMessage checks each message it hands out against the queue's retention period by building
    the queue's full attribute dict three times, each counting visible/delayed/in-flight messages by
    walking the whole queue (O(queue) per message received, the top growing cost of a 3-minute e2e run).
    The check skips the counts, as sends do (5.). Kinesis shards find their first/last sequence number
    by copying every key (O(records ever put) per PutRecord): they read the ordered dict's ends instead.
12. Served by waitress (a pool of request threads, keep-alive) instead of werkzeug's development server,
    which closes the connection after every response: a new TCP connection and a new thread per
    request, then a 10 ms select before the close. Measured: moto's CPU per PutItem 2.2-2.4 ms -> 1.3-1.7 ms
    (`--http werkzeug` serves the old way, to compare).
13. SQS DeleteMessage walks the queue in one pass instead of up to two that build each message's list of
    receipt handles (O(queue) allocations per delete, a growing cost while a queue is behind).
14. DynamoDB AttributeValues of the plain kinds are written as they are instead of through moto's
    service-model walk (ten member look-ups per value).
15. The method names of a response class (`inspect.getmembers` per request) are listed once per class.
16. The response serializer finds each member of a plain-dict result through a list of keys computed once
    per member shape (by moto's own alias chain) instead of six alias providers built per member per value;
    patch 14 covers DynamoDB Streams' images too. A Streams GetRecords of 100 changes: 64-72 -> 6-8 ms of
    moto's CPU.
17. The request-id regex (a look-behind at every character of every response body) runs only on bodies
    holding an XML <RequestId>.
18. Query's copies of the items it returns are built by direct recursion, not one `copy.deepcopy` dispatch
    per attribute value.
19. A plain AttributeValue in a request (an Item, a key, an expression value) is taken as it came instead of
    being rebuilt through the model walk (patch 14's rule, the other direction).
20. DynamoDB results are made plain without an import statement per value (moto's `dynamo_to_dict` imports
    inside its recursion) and with an item's scalars made plain inline: a Query's cost per item returned,
    which grows through a run (the Second Look's history).
21. A DynamoDB value's size and cast value answer strings and numbers before five type checks (a Query
    measures each item it returns twice and sorts them).
22. The survivors of each full garbage collection are frozen (`cqrs.heap`): moto's heap holds everything it
    stores, so each full collection walked millions of objects under the GIL by the end of a 5-minute run.
23. moto's per-service Flask apps run in debug mode (which builds a class per request for a form-data error
    helper) with flask-cors on every response; neither serves SDK clients on a laptop. `app()` builds them
    without both: ~6% less CPU per PutItem in process.
"""
from __future__ import annotations

import copy
import functools
import inspect
import json
import sys
import threading
import time
from typing import Any

from cqrs.heap import freeze_survivors

MAX_ITERATORS = 50_000
# Request threads of the waitress server (patch 12): a request waits for a free one (the e2e bench alone
# posts from up to 31 threads; 32 made requests queue).
WAITRESS_THREADS = 64
_local = threading.local()
_items_lock = threading.RLock()
_LOCKED = ("get_item", "put_item", "update_item", "delete_item", "transact_write_items", "transact_get_items",
           "query", "scan", "batch_get_item", "batch_write_item")


class _CopyShim:
    """`copy` as moto's dynamodb models see it: deepcopy of a Table is the identity while a patched
    transaction runs (its snapshot is taken by `_transact` instead)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_local, "in_tx", False) and isinstance(obj, Table):
            return obj
        return copy.deepcopy(obj, memo)


def apply() -> None:
    import moto.dynamodb.models as ddb_models

    if isinstance(getattr(ddb_models, "copy", None), _CopyShim):
        return  # applied already
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    ddb_models.copy = _CopyShim()  # type: ignore[attr-defined,assignment]
    original = DynamoDBBackend.transact_write_items

    def _key(backend: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            return table, key
        return table, op["Key"]

    def _transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, dict[str, Any], Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            try:
                op_type, op = next(iter(entry.items()))
                table, key = _key(self, op_type, op)
                item = self.get_item(op["TableName"], key)
            except Exception:  # noqa: BLE001, S112 - malformed entry (moto reports it); still save the others
                continue
            saved.append((table, key, copy.deepcopy(item) if item is not None else None))
            if table.stream_shard is not None and id(table) not in streams:
                streams[id(table)] = (table, len(table.stream_shard.items))
        _local.in_tx = True
        try:
            original(self, transact_items)
        except Exception:
            for table, key, item in reversed(saved):
                h = DynamoType(key[table.hash_key_attr])
                if table.range_key_attr is None:
                    if item is None:
                        table.items.pop(h, None)
                    else:
                        table.items[h] = item
                else:
                    r = DynamoType(key[table.range_key_attr])
                    if item is None:
                        if h in table.items:
                            table.items[h].pop(r, None)
                            if not table.items[h]:
                                del table.items[h]
                    else:
                        table.items[h][r] = item
                _reindex(table, item)
            for table, n in streams.values():
                del table.stream_shard.items[n:]
            raise
        finally:
            _local.in_tx = False

    DynamoDBBackend.transact_write_items = _transact  # type: ignore[method-assign]

    def _serialized(fn: Any) -> Any:
        def locked(*args: Any, **kwargs: Any) -> Any:
            with _items_lock:
                return fn(*args, **kwargs)
        locked.__wrapped__ = fn  # type: ignore[attr-defined]
        return locked

    for name in _LOCKED:
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))

    original_get_records = DynamoDBStreamsBackend.get_records

    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        with _items_lock:  # never between a transaction's stream append and its rollback trim (4.)
            out = original_get_records(self, iterator_arn, limit)
            its = self.shard_iterators
            if len(its) > MAX_ITERATORS:
                for k in list(its)[: len(its) - MAX_ITERATORS // 2]:
                    del its[k]
        return out

    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
    for name in ("get_shard_iterator", "describe_stream"):  # LATEST reads the shard's length
        setattr(DynamoDBStreamsBackend, name, _serialized(getattr(DynamoDBStreamsBackend, name)))


def apply_performance() -> None:
    """Patches 5-8, 10, 11 and 13-21 (docstring): same results, less CPU per request."""
    import moto.sqs.models as sqs_models
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(sqs_models.Queue, "_cqrs_fast", False):
        return
    sqs_models.Queue._cqrs_fast = True  # type: ignore[attr-defined]

    from moto.core.utils import camelcase_to_underscores

    counted = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
               "ApproximateNumberOfMessagesNotVisible"}

    def attributes(self: Any) -> dict[str, Any]:
        # moto's Queue.attributes (pinned version), except that a send skips the counts: they walk the
        # whole queue and a send reads none of them. No shared state is mutated (threaded server).
        skip = getattr(_local, "skip_counts", False)
        names = [a for a in self.BASE_ATTRIBUTES if not (skip and a in counted)]
        if self.fifo_queue:
            names += self.FIFO_ATTRIBUTES
        if self.kms_master_key_id:
            names += self.KMS_ATTRIBUTES
        result: dict[str, Any] = {a: getattr(self, camelcase_to_underscores(a)) for a in names}
        if self.policy:
            result["Policy"] = self.policy
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy)
        return {k: str(v).lower() if isinstance(v, bool) else v for k, v in result.items()}

    sqs_models.Queue.attributes = property(attributes)  # type: ignore[assignment]

    def _no_counts(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            prev = getattr(_local, "skip_counts", False)
            _local.skip_counts = True
            try:
                return fn(*args, **kwargs)
            finally:
                _local.skip_counts = prev
        return wrapped

    for name in ("send_message", "send_message_batch", "is_message_valid_based_on_retention_period"):
        setattr(sqs_models.SQSBackend, name, _no_counts(getattr(sqs_models.SQSBackend, name)))

    # unix_time_millis() == epoch milliseconds, built through two naive datetimes per call.
    sqs_models.Message.visible = property(lambda self: time.time() * 1000.0 > self.visible_at)  # type: ignore
    sqs_models.Message.delayed = property(lambda self: time.time() * 1000.0 < self.delayed_until)  # type: ignore

    backend_for = DomainDispatcherApplication.get_backend_for_host
    cache: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in cache:
            cache[host] = backend_for(self, host)  # pure in host: fixed module list and URL patterns
        return cache[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]

    import jsonpath_ng.ext as jp_ext

    jp_ext.parse = functools.lru_cache(maxsize=1024)(jp_ext.parse)

    _gsi_index()
    _kinesis_reads()
    _sqs_deletes()
    _attribute_values()
    _dict_members()
    _request_ids()
    _item_copies()
    _dynamo_results()
    _scalar_values()

    # Patch 15: the public methods of a response class, listed by `inspect` on every request (4% of moto):
    # classes do not change while the server runs, so the list is kept per class.
    from moto.core import responses as core_responses

    names_of = core_responses.method_names_from_class
    core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(names_of)  # type: ignore[assignment]

    from werkzeug.serving import WSGIRequestHandler

    log_request = WSGIRequestHandler.log_request

    def quiet_log_request(self: Any, code: Any = "-", size: Any = "-") -> None:
        if not str(code).startswith(("1", "2", "3")):
            log_request(self, code, size)

    WSGIRequestHandler.log_request = quiet_log_request  # type: ignore[method-assign]


def _sqs_deletes() -> None:
    """Patch 13: DeleteMessage walked the queue up to twice, building a list of every message's receipt
    handles at each step: O(queue) allocations per message deleted (12% of moto's samples late in a
    5-minute e2e run, while the Second Look's queue was behind). One pass comparing the handles in place;
    the same answers, errors and bookkeeping as moto's."""
    from moto.sqs import models as sqs_models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto ignores it
        hits = [m for m in self._messages
                if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles]
        if not hits:
            raise ReceiptHandleIsInvalid()
        for m in hits:
            self.pending_messages.discard(m)
            self.deleted_messages.update(m.all_receipt_handles)
        gone = {id(m) for m in hits}
        self._messages = [m for m in self._messages if id(m) not in gone]

    delete_message.__wrapped__ = sqs_models.Queue.delete_message  # type: ignore[attr-defined]
    sqs_models.Queue.delete_message = delete_message  # type: ignore[method-assign]


# The service models whose AttributeValue patch 14 writes directly: the table API and its streams' (a
# GetRecords response carries every record's images).
_DYNAMODB_MODELS = ("dynamodb", "dynamodbstreams")


def _plain_attribute_value(v: Any) -> Any:
    """The wire form of a plain DynamoDB AttributeValue (S, N, BOOL, NULL, SS, NS, and L / M of them), which
    is also what moto's model walk makes of it in either direction; None for anything else (B, BS, a
    wrong type, an unknown or second key), which takes moto's walk."""
    if type(v) is not dict or len(v) != 1:
        return None
    ((tag, x),) = v.items()
    if tag in ("S", "N"):
        return v if type(x) is str else None
    if tag in ("BOOL", "NULL"):
        return v if type(x) is bool else None
    if tag in ("SS", "NS"):
        return v if type(x) is list and all(type(i) is str for i in x) else None
    if tag == "L" and type(x) is list:
        items = [_plain_attribute_value(i) for i in x]
        return None if any(i is None for i in items) else {"L": items}
    if tag == "M" and type(x) is dict:
        fields = {k: _plain_attribute_value(i) for k, i in x.items()}
        return None if any(type(k) is not str or i is None for k, i in fields.items()) else {"M": fields}
    return None


def _attribute_values() -> None:
    """Patch 14: moto serializes every DynamoDB AttributeValue through the service model, picking each
    of its ten members by name (a third of moto's CPU late in an e2e run, most of it the Second Look's
    history queries). An AttributeValue of the plain kinds (S, N, BOOL, NULL, SS, NS, and L / M of them)
    is written as it is, which is what that walk writes for them; anything else (B, BS, an odd value)
    still takes moto's walk."""
    from moto.core import serialize as ser

    walk = ser.BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and self.operation_model.service_model.service_name in _DYNAMODB_MODELS:
            wire = _plain_attribute_value(value)
            if wire is not None:
                serialized[self.get_serialized_name(shape, key)] = wire
                return
        walk(self, serialized, value, shape, key)

    serialize_structure.__wrapped__ = walk  # type: ignore[attr-defined]
    ser.BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]

    # Patch 19, the same for requests: moto's parser walks each AttributeValue of an Item or a key through
    # its ten members and builds it again; a plain one comes out as it went in.
    from moto.core import parse

    parse_walk = parse.BaseJSONParser._parse_structure

    def parse_structure(self: Any, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue" and self.MAP_TYPE is dict \
                and self.operation_model.service_model.service_name in _DYNAMODB_MODELS:
            wire = _plain_attribute_value(value)
            if wire is not None:
                return wire
        return parse_walk(self, shape, value)

    parse_structure.__wrapped__ = parse_walk  # type: ignore[attr-defined]
    parse.BaseJSONParser._parse_structure = parse_structure  # type: ignore[method-assign]


def _dict_members() -> None:
    """Patch 16: the response serializer finds each member of a result by trying up to six alias providers
    (a Meta class, the shape's name, prefixes, the model's wire name), built afresh for every member of
    every value: the top cost of a DynamoDB Streams GetRecords (its records are plain dicts). For a plain
    dict the providers' answer depends on the member's shape and key only (a dict has no Meta, and its
    class name is always "dict"), so the keys moto would try are listed once per member shape, by moto's
    own provider chain, and the first one the dict holds is taken, as moto's picker does. Any other value,
    picker, or a serializer with response transformers takes moto's path."""
    from moto.core import serialize as ser

    pick = ser.ResponseSerializer.get_value

    def keys_for(self: Any, key: str, shape: Any, picker: Any) -> tuple[str, ...] | None:
        parent = getattr(shape, "parent", None)
        known = shape.__dict__.get("_cqrs_dict_keys")
        if known is None or known[0] is not parent or known[1] != key or known[2] is not picker.alias_providers \
                or known[3] is not type(picker):
            context = ser.AttributePickerContext(obj={}, key=key, shape=shape, operation_model=self.operation_model,
                                                 service_model=self.operation_model.service_model)
            keys: tuple[str, ...] | None = tuple(picker.get_possible_keys(context))
            if any("." in k for k in keys or ()):
                keys = None  # a dotted key is a path to moto's get_value: left to it
            known = (parent, key, picker.alias_providers, type(picker), keys)
            shape.__dict__["_cqrs_dict_keys"] = known  # a shape belongs to one parent: the entry stays valid
        return known[4]

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        picker = self._value_picker
        if type(value) is dict and isinstance(picker, ser.AttributePicker) and not picker.response_transformers:
            keys = keys_for(self, key, shape, picker)
            if keys is not None:
                for k in keys:
                    if k in value:
                        return value[k]
                return None
        return pick(self, value, key, shape)

    get_value.__wrapped__ = pick  # type: ignore[attr-defined]
    ser.ResponseSerializer.get_value = get_value  # type: ignore[method-assign]


def _request_ids() -> None:
    """Patch 17: every response body is run through a regex with a look-behind (to put the request id into
    an XML <RequestId>) at each of its characters, JSON bodies included: O(body) per request, a tenth of a
    large GetRecords or Query. A body without that tag is left as the regex would leave it, unscanned."""
    from moto.core.responses import BaseResponse

    enrich = BaseResponse._enrich_response

    def enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" in body:
            return enrich(headers, body)
        headers, _ = enrich(headers, "")  # the headers as moto sets them; the body has nothing to replace
        return headers, body

    enrich_response.__wrapped__ = enrich  # type: ignore[attr-defined]
    BaseResponse._enrich_response = staticmethod(enrich_response)  # type: ignore[method-assign,assignment]


def _item_copies() -> None:
    """Patch 18: a Query deep-copies every item it returns (and its index projection reads the copies), one
    `copy.deepcopy` dispatch per attribute value: most of a Second Look history query. The copies are built
    by direct recursion instead, the same objects moto's own `__deepcopy__` methods build (the memo shared
    the same way, so a value referenced twice is still copied once); a subclass takes moto's path."""
    from moto.dynamodb.models import dynamo_type as dt

    value_type, item_type, attrs_type = dt.DynamoType, dt.Item, dt.LimitedSizeDict
    copy_item = item_type.__deepcopy__

    def copy_value(v: Any, memo: dict[int, Any]) -> Any:
        if type(v) is not value_type:
            return copy.deepcopy(v, memo)  # None (no range key), or anything unexpected: as moto
        known = memo.get(id(v))
        if known is not None:
            return known
        out = value_type.__new__(value_type)
        memo[id(v)] = out
        out.type = t = v.type
        if t == "L":
            out.value = [copy_value(x, memo) for x in v.value]
        elif t == "M":
            out.value = {k: copy_value(x, memo) for k, x in v.value.items()}
        elif t in ("SS", "NS", "BS"):
            out.value = list(v.value)
        else:
            out.value = v.value  # str / bool / None / bytes: immutable, shared as moto shares them
        return out

    def item_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        if type(self) is not item_type:
            return copy_item(self, memo)
        known = memo.get(id(self))
        if known is not None:
            return known
        out: Any = item_type.__new__(item_type)
        memo[id(self)] = out
        out.hash_key = copy_value(self.hash_key, memo)
        out.range_key = copy_value(self.range_key, memo)
        attrs = attrs_type.__new__(attrs_type)
        dict.__init__(attrs)  # as moto: no size re-check of an item that passed it on write
        for key, value in self.attrs.items():
            dict.__setitem__(attrs, key, copy_value(value, memo))
        out.attrs = attrs
        return out

    item_deepcopy.__wrapped__ = copy_item  # type: ignore[attr-defined]
    item_type.__deepcopy__ = item_deepcopy  # type: ignore[method-assign]


def _dynamo_results() -> None:
    """Patch 20: every DynamoDB response is turned into plain values by `dynamo_to_dict`, which runs a
    `from ... import DynamoType` statement on each of its recursive calls (one per value of every item
    returned). The same function with the class looked up once, plain leaves (str, bool, int, float, Decimal,
    None: no `to_json`, not a container) returned at once, as the original returns them after its checks,
    and an item's scalar values made plain inline. With patch 21, a Query of 20 items costs moto 1.7 ms of
    CPU instead of 2.8-3.0 (in process, `werkzeug.test.Client` on moto's app, BENCHMARKS.md)."""
    import base64
    from datetime import datetime
    from decimal import Decimal

    from moto.dynamodb import responses as ddb_responses
    from moto.dynamodb.models import utilities
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    original = utilities.dynamo_to_dict
    leaves = (str, bool, int, float, Decimal, type(None))
    items = (dict, LimitedSizeDict)  # an item's attributes (no `to_json`: the original takes them as dicts)

    def dynamo_to_dict(obj: Any) -> Any:
        if type(obj) in leaves:
            return obj
        if type(obj) in items:  # the scalar values of an item made plain here, not by a call each
            out = {}
            for k, v in obj.items():
                if type(v) is DynamoType and v.type in ("S", "N", "BOOL", "NULL") and type(v.value) in leaves:
                    out[k] = {v.type: v.value}
                else:
                    out[k] = dynamo_to_dict(v)
            return out
        if isinstance(obj, datetime):
            return obj
        if isinstance(obj, DynamoType):
            if obj.type == "B":
                return {"B": obj.value if isinstance(obj.value, bytes) else base64.b64decode(obj.value)}
            if obj.type == "BS":
                return {"BS": [v if isinstance(v, bytes) else base64.b64decode(v) for v in obj.value]}
            return {obj.type: dynamo_to_dict(obj.value)}
        if hasattr(obj, "to_json"):
            return dynamo_to_dict(obj.to_json())
        if isinstance(obj, dict):
            return {k: dynamo_to_dict(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [dynamo_to_dict(item) for item in obj]
        return obj

    dynamo_to_dict.__wrapped__ = original  # type: ignore[attr-defined]
    utilities.dynamo_to_dict = dynamo_to_dict
    ddb_responses.dynamo_to_dict = dynamo_to_dict  # imported by name there


def _scalar_values() -> None:
    """Patch 21: a DynamoDB value's size and its cast value (what sorts and conditions compare) run five
    type checks before reaching the common kinds; a Query measures every item it returns twice and sorts
    them by range key. Strings and numbers are answered first, as the original answers them."""
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DynamoType

    size, cast_value = DynamoType.size, DynamoType.cast_value

    def fast_size(self: Any) -> int:
        t, v = self.type, self.value
        if t == "S" and type(v) is str:
            return len(v.encode("utf-8"))
        if t == "N":
            return len(str(v))
        return size(self)

    def fast_cast_value(self: Any) -> Any:
        t = self.type
        if t == "N":
            return Decimal(self.value)
        if t == "S":
            return self.value
        return cast_value.fget(self)  # type: ignore[attr-defined]

    fast_size.__wrapped__ = size  # type: ignore[attr-defined]
    DynamoType.size = fast_size  # type: ignore[method-assign]
    fast_cast_value.__wrapped__ = cast_value.fget  # type: ignore[attr-defined]
    DynamoType.cast_value = property(fast_cast_value)  # type: ignore[assignment,method-assign]


def _kinesis_reads() -> None:
    """Patch 10: Kinesis GetRecords starts at the iterator's position. moto walks the shard from its
    first record on every read (O(records ever put), ~17,000 per shard after 5 minutes at 116/s, read
    ~40 times a second by 4 mappings), which grew every hop's latency through a run. Sequence numbers
    in a moto shard are consecutive (put_record: max + 1); where they are not, moto's walk answers."""
    from moto.kinesis.models import Shard

    # Patch 11: the ends of the records' OrderedDict (insertion order = moto's key order), not a key list.
    Shard.get_min_sequence_number = lambda self: next(iter(self.records)) if self.records else 0  # type: ignore
    Shard.get_max_sequence_number = lambda self: next(reversed(self.records)) if self.records else 0  # type: ignore
    walk = Shard.get_records

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
        recs, last = self.records, int(last_sequence_id)
        if not recs or not limit:
            return walk(self, last_sequence_id, limit)  # type: ignore[no-any-return]
        top = next(reversed(recs))
        if last < top and last + 1 not in recs:
            return walk(self, last_sequence_id, limit)  # type: ignore[no-any-return]
        results: list[Any] = []
        seq = last + 1
        while seq <= top and len(results) < limit:
            r = recs.get(seq)
            if r is None:  # a gap: moto's walk skips it
                return walk(self, last_sequence_id, limit)  # type: ignore[no-any-return]
            results.append(r)
            seq += 1
        if not results:
            return [], last, 0
        return results, seq - 1, int((recs[top].created_at - results[-1].created_at) * 1000)

    Shard.get_records = get_records  # type: ignore[method-assign]


def _gsi_index() -> None:
    """Patch 8: candidates of a GSI query from a hash index (attribute -> value -> item keys)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import GlobalSecondaryIndex, Table

    def gsi_attrs(table: Any) -> set[str]:
        return {k["AttributeName"] for i in table.global_indexes or [] for k in i.schema if k["KeyType"] == "HASH"}

    def add(table: Any, item: Any) -> None:
        idx = table.__dict__.get("_cqrs_gsi")
        if idx is None or item is None:
            return  # not built yet: the first query builds it from the whole table
        for attr, buckets in idx.items():
            v = item.attrs.get(attr)
            if v is not None:
                buckets.setdefault(v, set()).add((item.hash_key, item.range_key))

    def lookup(table: Any, h: Any, r: Any) -> Any:
        got = table.items.get(h)
        if got is None or not table.range_key_attr:
            return got
        return got.get(r)

    put_item, query = Table.put_item, Table.query

    def put(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put_item(self, *args, **kwargs)
        add(self, item)
        return item

    signature = inspect.signature(query)

    def query_indexed(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind_partial(self, *args, **kwargs).arguments  # moto passes index_name by position
        index_name, conds = bound.get("index_name"), bound.get("hash_key_conditions") or []
        gsi = next((i for i in self.global_indexes or [] if i.name == index_name), None)
        if not isinstance(gsi, GlobalSecondaryIndex) or len(conds) != 1 or "all_items" in self.__dict__:
            return query(self, *args, **kwargs)
        attr, value = conds[0]
        idx = self.__dict__.get("_cqrs_gsi")
        if idx is None:
            idx = self._cqrs_gsi = {a: {} for a in gsi_attrs(self)}
            for item in Table.all_items(self):
                add(self, item)
        if attr not in idx:
            return query(self, *args, **kwargs)
        cands = []
        for h, r in list(idx[attr].get(value, ())):
            item = lookup(self, h, r)
            if item is not None and item.attrs.get(attr) == value:
                cands.append(item)
            else:
                idx[attr][value].discard((h, r))  # stale hint
        cands.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)  # as all_items
        self.all_items = lambda: cands  # moto's query reads its candidates from all_items (under the lock)
        try:
            return query(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.put_item = put  # type: ignore[method-assign]
    Table.query = query_indexed  # type: ignore[method-assign]

    update_item = DynamoDBBackend.update_item  # the locked one (patch 2): transact updates come here too

    def update(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _items_lock:
            item = update_item(self, table_name, key, *args, **kwargs)
            add(self.get_table(table_name), item)
            return item

    DynamoDBBackend.update_item = update  # type: ignore[method-assign]
    global _reindex
    _reindex = add


def _reindex(table: Any, item: Any) -> None:  # replaced by _gsi_index (a transaction's rollback restores items)
    pass


def app() -> Any:
    """moto's WSGI app as `moto.server` builds it, its per-service Flask apps without debug mode and CORS
    (patch 23). Errors are unchanged: moto turns a service error into its AWS response itself."""
    from moto.moto_server import werkzeug_app

    werkzeug_app.DISABLE_GLOBAL_CORS = True  # read when each service's app is built

    def backend_app(service: Any) -> Any:
        built = werkzeug_app.create_backend_app(service)
        built.debug = False
        return built

    return werkzeug_app.DomainDispatcherApplication(backend_app)


def main(argv: list[str] | None = None) -> None:
    """`-H host -p port` as moto's server; `--http werkzeug` serves with moto's own server (to compare)."""
    import argparse
    import logging
    import os
    import signal

    parser = argparse.ArgumentParser(prog="cqrs.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--http", choices=("waitress", "werkzeug"), default="waitress")
    parser.add_argument("--threads", type=int, default=WAITRESS_THREADS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    apply()
    apply_performance()
    freeze_survivors()  # patch 22
    if args.http == "werkzeug":
        from moto.server import main as moto_main

        moto_main(["-H", args.host, "-p", str(args.port)])
        return
    import waitress

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" on every busy moment
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto's main: presigned URLs and callbacks use it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Patch 12. connection_limit/backlog: every runner thread, poster and CLI may hold a connection.
    waitress.serve(app(), host=args.host, port=args.port, threads=args.threads, connection_limit=1000,
                   backlog=1024, channel_timeout=300, ident="moto", _quiet=True)


if __name__ == "__main__":
    main()
