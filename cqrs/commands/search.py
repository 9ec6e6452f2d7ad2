"""`cqrs search reindex ENTITY`, `cqrs apikey create`, `cqrs serve`: the search read model and its API."""
from __future__ import annotations

import argparse
import json
import signal
import sys

from cqrs.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("search", help="the OpenSearch read model")
    ss = s.add_subparsers(dest="search_command", required=True, metavar="ACTION")
    r = ss.add_parser("reindex", help="build a new index version from the current one and swap the alias")
    r.add_argument("entity", help="orders | carts | products | transactions | alerts")
    r.set_defaults(func=cmd_reindex)

    k = sub.add_parser("apikey", help="search API keys")
    ks = k.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    c = ks.add_parser("create", help="create a key and print it (once: only its hash is stored)")
    c.add_argument("--role", required=True, choices=("analyst", "customer"))
    c.add_argument("--customer", help="the customer a customer key is limited to")
    c.set_defaults(func=cmd_apikey_create)

    v = sub.add_parser("serve", help="run the search API on 127.0.0.1 (uvicorn)")
    v.add_argument("--port", type=int, default=8080)
    v.set_defaults(func=cmd_serve)


def cmd_reindex(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from projections.search.admin import reindex

    try:
        out = reindex(Settings.from_env(), args.entity)
    except (ValueError, RuntimeError) as e:
        raise CliError(str(e)) from None
    print(json.dumps(out))
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from search_api.keys import ApiKeyStore, table_name

    settings = Settings.from_env()
    store = ApiKeyStore(settings.boto3_client("dynamodb"), table_name(settings))
    try:
        _, key = store.create(args.role, args.customer)
    except ValueError as e:
        raise CliError(str(e)) from None
    print(key)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cqrs.stack import Stack
    from search_api.app import create_app

    settings = Settings.from_env()
    url = f"http://127.0.0.1:{args.port}"
    stack = Stack(settings.state_dir)
    _set_api_url(stack, url)  # `cqrs status --json` shows it while the server runs
    print(f"search API on {url} (OpenAPI: {url}/openapi.json with X-Api-Key)", flush=True)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: exit through `finally` so the
    # api_url entry is removed from the stack state.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(create_app(settings), host="127.0.0.1", port=args.port, log_level="info")
    finally:
        _set_api_url(stack, None)
    return 0


def _set_api_url(stack: object, url: str | None) -> None:
    state = stack.read_state()  # type: ignore[attr-defined]
    endpoints = state.setdefault("endpoints", {})
    if url:
        endpoints["api_url"] = url
    else:
        endpoints.pop("api_url", None)
    stack.write_state(state)  # type: ignore[attr-defined]
