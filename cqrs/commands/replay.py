"""`cqrs replay | redrive | backfill`: rebuild read models outside the live stream (reliability.replay)."""
from __future__ import annotations

import argparse
import json

from cqrs.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="rebuild a read model from the lake's change log (idempotent)")
    p.add_argument("--to", required=True, choices=["search", "lake", "warehouse"])
    p.add_argument("--since", help="only changes at or after this time (ISO-8601, UTC)")
    p.add_argument("--until", help="only changes before this time (ISO-8601, UTC)")
    p.add_argument("--keys", nargs="+", help="only these aggregate ids")
    p.set_defaults(func=cmd_replay)
    r = sub.add_parser("redrive", help="re-apply the on-failure destinations and the lake quarantine after a fix")
    r.add_argument("--no-quarantine", action="store_true", help="leave the lake quarantine alone")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_redrive)
    b = sub.add_parser("backfill", help="bring tables that already hold data into every read model")
    b.add_argument("--to", action="append", choices=["search", "lake", "warehouse"],
                   help="only these read models (repeatable; default all)")
    b.add_argument("--segments", type=int, default=4, help="parallel scan segments (default 4)")
    b.set_defaults(func=cmd_backfill)


def cmd_replay(args: argparse.Namespace) -> int:
    from reliability.replay import replay

    p = replay(Settings.from_env(), args.to, args.since, args.until, args.keys)
    print(f"replayed {p.applied} change(s) into {args.to} in {p.seconds:.1f}s ({p.rate:.0f} changes/s); "
          f"{len(p.failed)} failed" + (f": {p.failed[:10]}" if p.failed else ""))
    return 1 if p.failed else 0


def cmd_redrive(args: argparse.Namespace) -> int:
    from reliability.replay import redrive

    res = redrive(Settings.from_env(), include_quarantine=not args.no_quarantine)
    if args.json:
        print(json.dumps({"redriven": res.redriven, "still_failed": res.still_failed,
                          "unreadable": res.unreadable}, indent=1, default=str))
    else:
        print(f"redriven: {res.redriven} record(s); still failing: {len(res.still_failed)} object(s); "
              f"not replayable: {len(res.unreadable)}")
        for f in res.still_failed + res.unreadable:
            print(f"  {f['object']}: {f.get('reason') or f.get('rows')}")
    return 1 if res.still_failed or res.unreadable else 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from reliability.replay import backfill

    out = backfill(Settings.from_env(), tuple(args.to or ("search", "lake", "warehouse")), args.segments)
    bad = 0
    for store, p in out.items():
        print(f"backfill -> {store}: {p.applied} item(s) in {p.seconds:.1f}s ({p.rate:.0f}/s), {len(p.failed)} failed")
        bad += len(p.failed)
    return 1 if bad else 0
