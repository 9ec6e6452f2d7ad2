"""Lambda handlers of the saga steps and the Second Look: SQS events whose bodies are EventBridge
event envelopes. Clients are built on the first call (never at import) from Settings.from_env()."""
from __future__ import annotations

import json
import logging
from typing import Any

from services import steps

log = logging.getLogger(__name__)
_services: steps.Services | None = None


def services() -> steps.Services:
    global _services
    if _services is None:
        from cqrs.settings import Settings
        from services.store import Store

        settings = Settings.from_env()
        _services = steps.Services.build(Store(settings.boto3_client("dynamodb"), settings))
    return _services


def _handle(table: dict[str, Any], event: dict[str, Any], svc: steps.Services | None) -> dict[str, Any]:
    svc = svc or services()
    failures = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
            if not isinstance(body, dict) or "detail-type" not in body or not isinstance(body.get("detail"), dict):
                raise ValueError("body is not an EventBridge event envelope")
            steps.run(table, svc, body)
        except Exception as e:  # noqa: BLE001 - every failure is reported for SQS to redrive / DLQ
            log.warning("step failed for message %s (%s: %s); SQS will redeliver it, then move it to the DLQ",
                        record.get("messageId"), type(e).__name__, e)
            failures.append({"itemIdentifier": record.get("messageId", "")})
    return {"batchItemFailures": failures}


def saga_step(event: dict[str, Any], context: Any = None, svc: steps.Services | None = None) -> dict[str, Any]:
    return _handle(steps.SAGA_STEPS, event, svc)


def second_look(event: dict[str, Any], context: Any = None, svc: steps.Services | None = None) -> dict[str, Any]:
    return _handle(steps.SECOND_LOOK_STEPS, event, svc)
