"""`cqrs demo`: the main job on the embedded local stack: up, load, let the projections catch up,
then show what each read model answers. Each part of the system contributes one step."""
from __future__ import annotations

import argparse
import importlib
import signal
import time

from cqrs.settings import Settings
from cqrs.stack import Stack

# (title, "module:function"); each function takes (settings, args) and prints its own summary.
# Parts of the system add their step here, in the order a user would want to see them.
STEPS: list[tuple[str, str]] = [
    ("load: orders, carts, payments, card transactions", "services.load:demo_step"),  # keep FIRST
    ("drain: every projection catches up", "ingestion.drain:demo_step"),  # right after the load step
    ("search: the search API answers", "search_api.demo:demo_step"),
    ("lake: Athena SQL on the Parquet lake", "projections.lake.demo:demo_step"),  # after the search step
    ("warehouse: Redshift reports, and one truth", "projections.warehouse.demo:demo_step"),  # after the lake step
    ("dashboard: the page for people", "dashboards.demo:demo_step"),
    ("reconcile: every read model equals the command side", "reliability.reconcile:demo_step"),  # keep LAST
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="up, load, project, query: the whole pipeline end to end")
    p.add_argument("--orders", type=int, default=120, help="orders for the load generator (default 120: the demo ends within 3 minutes on 2 cores)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    p.add_argument("--out", default="demo-dashboard.html", help="where the dashboard page is written")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    print("== up: the embedded local stack (fresh)")
    stack = Stack()
    stack.up(fresh=True, progress=lambda m: print(f"  {m}", flush=True))
    settings = Settings.from_env()

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt  # so `finally` stops the stack on SIGTERM too (timeouts, CI)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        for title, target in STEPS:
            print(f"== {title}", flush=True)
            module, func = target.split(":")
            getattr(importlib.import_module(module), func)(settings, args)
    finally:
        if not args.keep:
            stack.down()
    print(f"demo finished in {time.monotonic() - t0:.0f}s" + ("" if not args.keep else
          "; the stack is still running (`cqrs status`, `cqrs down`)"))
    return 0
