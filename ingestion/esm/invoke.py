"""Calling a handler the way Lambda does: lazy import by "module:function", a context object like
Lambda's, and the reading of a `batchItemFailures` response (partial batch responses)."""
from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, Any], Any]


class HandlerImportError(RuntimeError):
    """The function's module or attribute does not import: no retry helps until the code changes."""


def load_handler(path: str) -> Handler:
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise HandlerImportError(f"handler {path!r} is not 'package.module:function'")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except Exception as e:
        raise HandlerImportError(f"handler {path} does not import: {type(e).__name__}: {e}") from e
    if not callable(fn):
        raise HandlerImportError(f"handler {path} is not callable")
    return fn  # type: ignore[no-any-return]


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that handlers use."""

    function_name: str
    timeout_s: int = 60
    memory_limit_in_mb: int = 512
    region: str = "us-east-1"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class BatchOutcome:
    """What a stream invocation means for the batch: done, retry from index k, or whole-batch failure."""

    OK = -1
    WHOLE = 0


def failed_from(response: Any, ids: Sequence[str], report_batch_item_failures: bool) -> tuple[int, str]:
    """Index of the first record to retry (BatchOutcome.OK if none) and why.

    AWS: with ReportBatchItemFailures, the checkpoint moves to the lowest failed sequence number; a
    failure with an empty, null or unknown itemIdentifier fails the whole batch."""
    if not report_batch_item_failures or not isinstance(response, Mapping):
        return BatchOutcome.OK, ""
    failures = response.get("batchItemFailures")
    if not failures:
        return BatchOutcome.OK, ""
    index = {s: i for i, s in enumerate(ids)}
    lowest = len(ids)
    for f in failures:
        ident = f.get("itemIdentifier") if isinstance(f, Mapping) else None
        if not ident or str(ident) not in index:
            return BatchOutcome.WHOLE, f"batchItemFailures names an unknown item {ident!r}: whole batch fails"
        lowest = min(lowest, index[str(ident)])
    return lowest, f"handler reported {len(failures)} failed item(s), first {ids[lowest]}"
