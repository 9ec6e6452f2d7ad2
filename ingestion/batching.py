"""Splitting a list into API calls bounded by an item count and a byte size (PutRecords, PutEvents)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def split(items: Sequence[T], size_of: Callable[[T], int], max_count: int, max_bytes: int) -> list[list[T]]:
    """Consecutive groups of at most `max_count` items and `max_bytes` (by `size_of`), order kept.
    An item bigger than `max_bytes` on its own goes alone: the service refuses it and the caller
    reports it (never dropped)."""
    out: list[list[T]] = []
    cur: list[T] = []
    size = 0
    for item in items:
        n = size_of(item)
        if cur and (len(cur) >= max_count or size + n > max_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(item)
        size += n
    if cur:
        out.append(cur)
    return out
