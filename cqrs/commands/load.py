"""`cqrs load`: the load generator (services.load) against the running stack."""
from __future__ import annotations

import argparse

from cqrs.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="carts, checkouts (saga), card transactions: deterministic for a seed")
    p.add_argument("--orders", type=int, default=300, help="carts to fill and check out (default 300)")
    p.add_argument("--transactions", type=int, default=None,
                   help="standalone card transactions (default: 3 per order)")
    p.add_argument("--rate", type=float, default=0.0, help="commands per second (default: as fast as possible)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--saga", choices=("inline", "choreography", "orchestration"), default="inline",
                   help="inline: the choreographed saga in-process (default); choreography: through the "
                        "stream, EventBridge and the runner; orchestration: Step Functions")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for sagas to end")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_load)


def cmd_load(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from services.load import LoadConfig, report_json, run_load

    settings = Settings.from_env()
    if args.orders < 0 or (args.transactions is not None and args.transactions < 0):
        raise CliError("--orders and --transactions must not be negative")
    try:
        report = run_load(settings, LoadConfig(orders=args.orders, transactions=args.transactions, rate=args.rate,
                                               seed=args.seed, saga=args.saga, timeout=args.timeout))
    except Exception as e:
        from botocore.exceptions import EndpointConnectionError

        if isinstance(e, EndpointConnectionError):
            raise CliError(f"cannot reach {settings.aws_endpoint_url}: is the stack up? (`cqrs up --detach`)")
        raise
    print(report_json(report) if args.json else report.to_text())
    return 0 if not report.stuck and not report.failures else 2
