"""Re-export for the dashboard's pipeline-health panel: the last `cqrs reconcile` report."""
from __future__ import annotations

from reliability.reconcile import last_report  # noqa: F401
