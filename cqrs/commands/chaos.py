"""`cqrs chaos --minutes M [--json]`: load plus random kills of runner, OpenSearch and PostgreSQL on the
local stack, ending in drain + replay + reconcile, redrive only of what was parked (reliability.chaos)."""
from __future__ import annotations

import argparse
import dataclasses
import json

from cqrs.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chaos", help="load with random component kills, then drain and reconcile")
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--every", type=float, default=20.0, help="mean seconds between faults (default 20)")
    p.add_argument("--down", type=float, default=4.0, help="seconds a killed store stays down (default 4)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_chaos)


def cmd_chaos(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from reliability.chaos import run

    settings = Settings.from_env()
    if not settings.local:
        raise CliError("chaos runs against the local stack only (start it with `cqrs up`)")
    rep = run(settings, args.minutes, args.every, args.down, args.seed,
              log=(lambda m: None) if args.json else (lambda m: print(m, flush=True)))
    print(json.dumps(dataclasses.asdict(rep), indent=1, default=str) if args.json else rep.to_text())
    return 0 if rep.reconcile_ok else 1
