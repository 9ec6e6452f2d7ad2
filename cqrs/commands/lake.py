"""`cqrs lake compact [--date YYYY-MM-DD]`: rewrite the lake's small change-log files into large ones."""
from __future__ import annotations

import argparse
import re


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lake", help="maintain the Parquet lake")
    ls = p.add_subparsers(dest="lake_command", required=True, metavar="ACTION")
    c = ls.add_parser("compact", help="merge each partition's files into one (idempotent)")
    c.add_argument("--date", help="only the partition dt=DATE (YYYY-MM-DD); default: every partition")
    c.set_defaults(func=cmd_compact)


def cmd_compact(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from cqrs.settings import Settings
    from projections.lake.compact import compact

    if args.date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.date):
        raise CliError(f"--date must be YYYY-MM-DD, got {args.date!r}")
    done = compact(Settings.from_env(), args.date)
    changed = [c for c in done if c.new_key]
    for c in changed:
        print(f"  {c.entity}/{c.dt}: {c.files_in} files -> 1 ({c.rows} rows)")
    print(f"compacted {len(changed)} of {len(done)} partitions")
    return 0
