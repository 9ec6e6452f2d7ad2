"""Reliability tooling: reconcile the read models against the command side, replay, redrive,
backfill, and chaos runs (docs/reliability.md)."""
