"""`cqrs dq report [--json]`: what the lake's data-quality suites kept out, grouped by expectation."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dq", help="data quality of the lake")
    ds = p.add_subparsers(dest="dq_command", required=True, metavar="ACTION")
    r = ds.add_parser("report", help="summarise the quarantine (rows per entity and failed expectation)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from cqrs.settings import Settings
    from projections.lake.dq import report
    from projections.lake.output import to_json, to_text

    columns, rows = report(Settings.from_env())
    print(to_json(columns, rows) if args.json else to_text(columns, rows))
    return 0
