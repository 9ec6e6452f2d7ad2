"""API Gateway (HTTP API or REST API) -> the same FastAPI app, through Mangum. The app and its
clients are built on the first invocation, not at import."""
from __future__ import annotations

from typing import Any

_handler: Any = None


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:
        from mangum import Mangum

        from search_api.app import create_app

        _handler = Mangum(create_app(), lifespan="off")
    return _handler(event, context)  # type: ignore[no-any-return]
