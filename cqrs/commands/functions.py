"""`cqrs functions | invoke | drain`: the local Lambda functions, their event source mappings, and the
runner that drives them (`ingestion.runner`)."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

from cqrs.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("functions", help="list the Lambda functions, their sources, settings and state")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_functions)
    i = sub.add_parser("invoke", help="call one function's handler with an AWS-shaped event (like sam local "
                                      "invoke, no Docker) against the running stack")
    i.add_argument("function")
    i.add_argument("--event", required=True, help="event JSON file ('-' for stdin)")
    i.set_defaults(func=cmd_invoke)
    d = sub.add_parser("drain", help="wait until every mapping has caught up with its source")
    d.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    d.set_defaults(func=cmd_drain)


def _describe() -> list[dict]:
    from ingestion.esm.invoke import HandlerImportError, load_handler
    from ingestion.functions import FUNCTIONS
    from ingestion.runner import mapping_id, read_status

    status = read_status(Settings.from_env().state_dir) or {}
    out = []
    for fn in FUNCTIONS:
        try:
            load_handler(fn.handler)
            importable, error = True, None
        except HandlerImportError as e:
            importable, error = False, str(e)
        maps = []
        for n, m in enumerate(fn.mappings):
            mid = mapping_id(fn, n, m)
            maps.append({"id": mid, **dataclasses.asdict(m), "runner": status.get("mappings", {}).get(mid)})
        out.append({"name": fn.name, "handler": fn.handler, "importable": importable, "import_error": error,
                    "description": fn.description, "memory_mb": fn.memory_mb, "timeout_s": fn.timeout_s,
                    "mappings": maps})
    return out


def cmd_functions(args: argparse.Namespace) -> int:
    funcs = _describe()
    if args.json:
        print(json.dumps(funcs, indent=2, default=str))
    else:
        for f in funcs:
            state = "ok" if f["importable"] else f"DOES NOT IMPORT: {f['import_error']}"
            print(f"{f['name']}  {f['handler']}  [{state}]")
            for m in f["mappings"]:
                flags = (f"batch={m['batch_size']} window={m['maximum_batching_window_in_seconds']}s")
                if m["kind"] != "sqs":
                    flags += (f" parallel={m['parallelization_factor']} bisect={m['bisect_batch_on_function_error']}"
                              f" retries={m['maximum_retry_attempts']} max_age={m['maximum_record_age_in_seconds']}"
                              f" on_failure={(m['on_failure'] or {}).get('kind', '-')}")
                flags += f" report_item_failures={m['report_batch_item_failures']}"
                print(f"  <- {m['kind']}:{m['source']}  {flags}")
                r = m["runner"]
                if r:
                    print(f"     runner: delivered {r.get('delivered', 0)}, behind {r.get('lag_records', 0)}, "
                          f"in flight {r.get('in_flight', 0)}, last error: {r.get('last_error') or '-'}")
    return 0 if all(f["importable"] for f in funcs) else 2


def cmd_invoke(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from ingestion.esm.invoke import HandlerImportError, LambdaContext, load_handler
    from ingestion.functions import FUNCTIONS_BY_NAME

    fn = FUNCTIONS_BY_NAME.get(args.function)
    if fn is None:
        raise CliError(f"no function {args.function!r}; known: {', '.join(FUNCTIONS_BY_NAME)}")
    try:
        event = json.loads(sys.stdin.read() if args.event == "-" else Path(args.event).read_text())
        handler = load_handler(fn.handler)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read event {args.event}: {e}") from None
    except HandlerImportError as e:
        raise CliError(str(e)) from None
    ctx = LambdaContext(fn.name, fn.timeout_s, fn.memory_mb, Settings.from_env().region)
    t0 = time.monotonic()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the handler's logs to stderr, its response to stdout
            resp = handler(event, ctx)
    except Exception as e:  # noqa: BLE001 - shown as Lambda shows a function error
        print(json.dumps({"errorType": type(e).__name__, "errorMessage": str(e)}, indent=2))
        print(f"function error after {1000 * (time.monotonic() - t0):.0f} ms (request {ctx.aws_request_id})",
              file=sys.stderr)
        return 1
    print(json.dumps(resp, indent=2, default=str))
    print(f"ok in {1000 * (time.monotonic() - t0):.0f} ms (request {ctx.aws_request_id})", file=sys.stderr)
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    from ingestion.drain import drain

    res = drain(Settings.from_env().state_dir, timeout=args.timeout)
    if res.ok:
        print(f"every mapping caught up in {res.seconds:.1f}s")
        return 0
    print(f"not caught up after {res.seconds:.1f}s:", file=sys.stderr)
    for name, why in res.stuck.items():
        print(f"  {name}: {why}", file=sys.stderr)
    return 1
