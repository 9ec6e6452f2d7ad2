"""`cqrs up | down | status`: the embedded local stack."""
from __future__ import annotations

import argparse
import json
import signal
import time

from cqrs.stack import Stack, StackError


def register(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="start the embedded local stack (restarts dead components)")
    up.add_argument("--detach", "-d", action="store_true", help="return once everything is up")
    up.add_argument("--fresh", action="store_true", help="start every store empty")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop every component of the local stack")
    down.set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="endpoints and processes of the local stack")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)


def cmd_up(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError

    stack = Stack()
    t0 = time.monotonic()
    try:
        stack.up(fresh=args.fresh, progress=lambda m: print(f"  {m}", flush=True))
    except StackError as e:
        raise CliError(str(e)) from None
    print(f"local stack up in {time.monotonic() - t0:.1f}s; `cqrs status` shows the endpoints")
    if args.detach:
        return 0
    print("press Ctrl-C to stop")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    stack.down(progress=lambda m: print(f"  {m}"))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    Stack().down(progress=lambda m: print(f"  {m}"))
    print("local stack down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    st = Stack().status()
    if args.json:
        print(json.dumps(st, indent=2, sort_keys=True))
        return 0 if st["running"] else 3
    if not st["components"]:
        print("local stack is not running (start it with `cqrs up --detach`)")
        return 3
    for name, c in st["components"].items():
        print(f"{name:<12} {'running' if c['running'] else 'DEAD':<8} pid {c['pid']:<8} port {c.get('port', '-')}")
    for k, v in st["endpoints"].items():
        print(f"{k:<18} {v}")
    return 0 if st["running"] else 3
