"""Back-pressure for the projectors: a store that is down makes the shard wait, it never parks records.

The Kinesis event source mapping retries a failed batch at once and only `MaximumRetryAttempts`
times (it has no backoff setting), so a minute-long store outage would exhaust the retries and
park healthy records in the on-failure destination. Instead a projector classifies each failure:

  TRANSIENT  the store is unreachable or busy: connection refused/reset, timeouts, HTTP 429/5xx,
             S3/Glue throttling or 5xx, psycopg OperationalError, an OpenSearch alias not there
             yet (a restarted, empty node being provisioned). Retrying can help: the projector
             retries inside the invocation with exponential backoff and full jitter, for as long
             as the invocation has time left (less a margin for the work itself), then reports the
             batch failed so the mapping delivers it again, checkpoint unmoved.
  TERMINAL   the data is refused (400 mapping error, a constraint, an undecodable record): the
             projector writes its failure report at once and moves on; the mapping's few retries
             end in the on-failure destination, so a poison record blocks its shard briefly.

Tolerated outage per record ~ (MaximumRetryAttempts + 1) x (function timeout - margin); see
docs/reliability.md. The loop itself is tenacity's (`Retrying`, `stop_before_delay`,
`wait_random_exponential`), not hand-written.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_WAIT_S = 30.0  # no Lambda context (replay, redrive, tests calling `process`): wait this long
MAX_MARGIN_S = 10.0    # time kept back from the invocation's remaining time for the work itself
MAX_DELAY_S = 5.0      # longest single pause: a store that is back is noticed within seconds

_THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "SlowDown", "RequestTimeout", "RequestTimeoutException", "ServiceUnavailable", "InternalError",
    "InternalFailure", "InternalServiceException", "ConcurrentModificationException",
})


def transient_status(status: int | None, error_type: str = "") -> bool:
    """An HTTP status (and OpenSearch error type) that retrying can cure."""
    if status is None:
        return False
    if status == 429 or status >= 500:
        return True
    # require_alias on a node restarted empty: the alias comes back with provisioning.
    return status == 404 and error_type == "index_not_found_exception"


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same call later can succeed (the store, not the data, is the problem)."""
    retryable = getattr(exc, "retryable", None)  # our own errors say so (e.g. TransientLoadError)
    if isinstance(retryable, bool):
        return retryable
    if isinstance(exc, (ConnectionError, TimeoutError)):  # refused, reset, timed out (OSError kinds)
        return True
    mod = type(exc).__module__ or ""
    if mod.startswith("psycopg"):
        import psycopg

        return isinstance(exc, psycopg.OperationalError)
    if mod.startswith("opensearchpy"):
        from opensearchpy.exceptions import ConnectionError as OSConnectionError
        from opensearchpy.exceptions import TransportError

        if isinstance(exc, OSConnectionError):  # includes ConnectionTimeout
            return True
        if isinstance(exc, TransportError):
            status = exc.status_code if isinstance(exc.status_code, int) else None
            return transient_status(status, str(exc.error))
        return False
    if mod.startswith(("botocore", "urllib3")):
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            EndpointConnectionError,
            HTTPClientError,
            ReadTimeoutError,
        )

        if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, HTTPClientError)):
            return True
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return err.get("Code") in _THROTTLE_CODES or transient_status(status if isinstance(status, int) else None)
        return mod.startswith("urllib3")  # raw transport errors under botocore
    return False


def wait_budget(context: Any, settings: Any = None) -> float:
    """Seconds a projector may spend waiting for a store in this invocation: the invocation's remaining
    time less a margin (10%, at most MAX_MARGIN_S), capped by `Settings.store_wait_s` when set."""
    cap = getattr(settings, "store_wait_s", None)
    remaining = None
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if callable(getter):
        remaining = getter() / 1000.0
    if remaining is None:
        budget = DEFAULT_WAIT_S
    else:
        budget = max(0.0, remaining - min(MAX_MARGIN_S, 0.1 * remaining))
    return budget if cap is None else min(budget, float(cap))


def _log_wait(what: str, reason: Callable[[Any], str] | None) -> Callable[[RetryCallState], None]:
    def before_sleep(rs: RetryCallState) -> None:
        o = rs.outcome
        if o is not None and o.failed:
            why = repr(o.exception())
        else:
            why = reason(o.result()) if reason and o is not None else "some items still failing"
        log.warning("%s: transient failure (attempt %d, %.1fs so far), waiting %.2fs: %s",
                    what, rs.attempt_number, rs.seconds_since_start or 0.0, rs.upcoming_sleep, why[:300])
    return before_sleep


def _retrying(budget_s: float, what: str, base_s: float, max_attempts: int | None,
              sleep: Callable[[float], None], reason: Callable[[Any], str] | None = None, **kw: Any) -> Retrying:
    stop: stop_base = stop_before_delay(max(0.0, budget_s))
    if max_attempts is not None:
        stop = stop | stop_after_attempt(max_attempts)
    return Retrying(stop=stop, wait=wait_random_exponential(multiplier=base_s, max=MAX_DELAY_S),
                    sleep=sleep, before_sleep=_log_wait(what, reason), **kw)


def call(fn: Callable[[], T], budget_s: float, *, what: str = "store", base_s: float = 0.2,
         max_attempts: int | None = None, sleep: Callable[[float], None] = time.sleep) -> T:
    """fn(), retried while it raises a transient error and the budget lasts; the last error is raised
    (a terminal one at once)."""
    r = _retrying(budget_s, what, base_s, max_attempts, sleep, retry=retry_if_exception(is_transient),
                  reraise=True)
    return r(fn)


def until(fn: Callable[[], T], done: Callable[[T], bool], budget_s: float, *, what: str = "store",
          base_s: float = 0.2, max_attempts: int | None = None, sleep: Callable[[float], None] = time.sleep,
          reason: Callable[[T], str] | None = None) -> T:
    """fn() again while `done(result)` is false (it reports work left for a transient reason) and the
    budget lasts; returns the last result either way (the caller reports what is left)."""
    r = _retrying(budget_s, what, base_s, max_attempts, sleep, reason, retry=retry_if_result(lambda v: not done(v)),
                  retry_error_callback=lambda rs: rs.outcome.result() if rs.outcome else None)
    return r(fn)
