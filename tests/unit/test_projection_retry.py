"""projections.retry: which failures a projector waits out (transient) and which it reports at once
(terminal), how long it may wait in one invocation, and the retry loops themselves (fake sleep)."""
from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from projections import retry
from projections.warehouse.adapters import TerminalLoadError, TransientLoadError


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


TRANSIENT = [
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "reset by peer"),
    TimeoutError("timed out"),
    psycopg.OperationalError("server closed the connection unexpectedly"),
    TransientLoadError("cannot connect to the warehouse"),
    OSConnectionError("N/A", "refused", None),
    ConnectionTimeout("TIMEOUT", "read timed out", None),
    TransportError(503, "unavailable", None),
    TransportError(429, "es_rejected_execution_exception", None),
    TransportError(404, "index_not_found_exception", None),  # alias not provisioned yet
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    _client_error("SlowDown", 503),
    _client_error("ThrottlingException", 400),
    _client_error("InternalError", 500),
]
TERMINAL = [
    ValueError("bad data"),
    TerminalLoadError("null value in column violates not-null constraint"),
    psycopg.errors.NotNullViolation("null value"),
    psycopg.errors.InvalidTextRepresentation("invalid input syntax"),
    TransportError(400, "mapper_parsing_exception", None),
    TransportError(404, "document_missing_exception", None),
    _client_error("AccessDenied", 403),
    _client_error("NoSuchBucket", 404),
    KeyError("x"),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_store_trouble_is_transient(exc: BaseException) -> None:
    assert retry.is_transient(exc)


@pytest.mark.parametrize("exc", TERMINAL, ids=lambda e: type(e).__name__)
def test_refused_data_and_bugs_are_terminal(exc: BaseException) -> None:
    assert not retry.is_transient(exc)


@pytest.mark.parametrize(("status", "kind", "transient"), [
    (200, "", False), (400, "mapper_parsing_exception", False), (409, "version_conflict", False),
    (404, "index_not_found_exception", True), (404, "", False), (429, "", True), (500, "", True),
    (503, "", True), (None, "", False)])
def test_bulk_item_status(status: int | None, kind: str, transient: bool) -> None:
    assert retry.transient_status(status, kind) is transient


@dataclass
class Ctx:
    ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


@dataclass
class S:
    store_wait_s: float | None = None


def test_wait_budget_is_the_remaining_time_less_a_margin_capped_by_settings() -> None:
    assert retry.wait_budget(Ctx(60_000)) == pytest.approx(54.0)
    assert retry.wait_budget(Ctx(900_000)) == pytest.approx(890.0)  # margin at most 10 s
    assert retry.wait_budget(Ctx(2_000)) == pytest.approx(1.8)
    assert retry.wait_budget(Ctx(0)) == 0.0
    assert retry.wait_budget(Ctx(60_000), S(1.0)) == 1.0
    assert retry.wait_budget(None) == retry.DEFAULT_WAIT_S
    assert retry.wait_budget(None, S(2.5)) == 2.5


def test_call_waits_out_transient_errors_then_succeeds() -> None:
    calls, pauses = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionRefusedError(111, "refused")
        return "ok"

    assert retry.call(flaky, 60.0, sleep=pauses.append) == "ok"
    assert len(calls) == 4 and len(pauses) == 3
    assert all(0 <= p <= retry.MAX_DELAY_S for p in pauses)


def test_call_raises_a_terminal_error_at_once() -> None:
    calls = []

    def bad() -> None:
        calls.append(1)
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        retry.call(bad, 60.0, sleep=lambda _: None)
    assert len(calls) == 1


def test_call_gives_up_with_the_last_transient_error_when_the_budget_is_spent() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise TransientLoadError(f"down {len(calls)}")

    with pytest.raises(TransientLoadError, match="down 1"):
        retry.call(down, 0.0, sleep=lambda _: None)  # no time left: one attempt
    with pytest.raises(TransientLoadError, match="down 4"):
        retry.call(down, 60.0, max_attempts=3, sleep=lambda _: None)


def test_until_returns_the_last_result_when_work_is_left() -> None:
    left = [3]

    def step() -> int:
        left[0] -= 1
        return left[0]

    assert retry.until(step, lambda n: n <= 0, 60.0, sleep=lambda _: None) == 0
    left[0] = 10
    assert retry.until(step, lambda n: n <= 0, 60.0, max_attempts=2, sleep=lambda _: None) == 8
