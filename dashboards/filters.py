"""Dashboard filters: a time range (days, inclusive) and a customer. They are validated here and
applied to result rows in Python or as structured OpenSearch clauses, never pasted into SQL."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

_CUSTOMER = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


class FilterError(ValueError):
    """A filter value is malformed; the message says which and how it should look."""


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    customer: str | None = None

    @classmethod
    def parse(cls, start: str | None = None, end: str | None = None, customer: str | None = None) -> Filters:
        def day(name: str, v: str | None) -> date | None:
            if not v:
                return None
            try:
                return date.fromisoformat(v)
            except ValueError:
                raise FilterError(f"{name} must be a day like 2026-11-27, got {v!r}") from None

        if customer and not _CUSTOMER.match(customer):
            raise FilterError("customer must be an id of letters, digits and _.:@- (at most 128)")
        f = cls(day("from", start), day("to", end), customer or None)
        if f.start and f.end and f.start > f.end:
            raise FilterError(f"from ({f.start}) is after to ({f.end})")
        return f

    def as_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat() if self.start else "",
                "to": self.end.isoformat() if self.end else "", "customer": self.customer or ""}

    def day_ok(self, v: Any) -> bool:
        if v is None:
            return self.start is None and self.end is None
        d = v if isinstance(v, date) else date.fromisoformat(str(v)[:10])
        if hasattr(d, "date"):
            d = d.date()
        return (self.start is None or d >= self.start) and (self.end is None or d <= self.end)
