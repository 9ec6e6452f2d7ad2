"""Small shared pieces: clock, money, retries with jitter."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from services.errors import ValidationError

CENT = Decimal("0.01")


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s)


def utcnow() -> datetime:
    return datetime.now(UTC)


def money(value: Any, what: str = "amount") -> Decimal:
    """A positive amount with at most two decimals, as Decimal (floats refused: they are inexact)."""
    if isinstance(value, (float, bool)):
        raise ValidationError(f"{what} must be a decimal string or Decimal, not {type(value).__name__}")
    try:
        d = Decimal(str(value))
    except (InvalidOperation, TypeError):
        raise ValidationError(f"{what} is not a number: {value!r}") from None
    if not d.is_finite() or d <= 0 or d != d.quantize(CENT):
        raise ValidationError(f"{what} must be positive with at most two decimals, got {value!r}")
    return d.quantize(CENT)


def positive_int(value: Any, what: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or int(value) != value or value <= 0:
        raise ValidationError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def text(value: Any, what: str, max_len: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ValidationError(f"{what} must be a non-empty string of at most {max_len} characters, got {value!r}")
    return value


class Retry:
    """Bounded retries with full jitter (AWS's recommended backoff) for optimistic concurrency."""

    def __init__(self, attempts: int = 8, base: float = 0.005, cap: float = 0.2,
                 rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep):
        self.attempts, self.base, self.cap = attempts, base, cap
        self.rng = rng or random.Random()
        self.sleep = sleep

    def backoff(self, attempt: int) -> None:
        self.sleep(self.rng.uniform(0, min(self.cap, self.base * 2 ** attempt)))


def plus(dt: datetime, **kw: float) -> datetime:
    return dt + timedelta(**kw)
