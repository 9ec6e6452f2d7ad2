"""`cqrs reconcile [--json] [--repair]`: every read model against the command side (reliability.reconcile)."""
from __future__ import annotations

import argparse
import json

from cqrs.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconcile", help="compare every read model with the command side; exit 1 on drift")
    p.add_argument("--json", action="store_true", help="the full report as JSON")
    p.add_argument("--repair", action="store_true", help="re-project exactly the drifted keys, then compare again")
    p.add_argument("--store", action="append", choices=["search", "lake", "warehouse"],
                   help="only these read models (repeatable; default all)")
    p.set_defaults(func=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from reliability.reconcile import reconcile, to_text
    from reliability.stores import STORES

    report = reconcile(Settings.from_env(), do_repair=args.repair, stores=tuple(args.store or STORES))
    print(json.dumps(report, indent=1, default=str) if args.json else to_text(report))
    return 0 if report["ok"] else 1
