"""`cqrs capacity --tx-per-day N [--json]`: shards, concurrency, nodes, files, RPUs and a monthly
cost for a daily transaction volume (cqrs.capacity; assumptions and price date are printed)."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def _volume(text: str) -> int:
    """10000000, 10M, 1e9, 1B, 100_000_000."""
    t = text.strip().replace("_", "").replace(",", "").upper()
    mult = {"K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9}.get(t[-1:], 1)
    number = t[:-1] if mult != 1 else t
    try:
        value = int(float(number) * mult) if ("E" in number or "." in number) else int(number) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a volume: {text!r} (e.g. 10000000, 10M, 1B)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"volume must be positive: {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capacity", help="size and price the AWS deployment for a daily transaction volume")
    p.add_argument("--tx-per-day", type=_volume, action="append", required=True, metavar="N",
                   help="transactions per day (10M, 1B, ...); repeat for a comparison table")
    p.add_argument("--json", action="store_true", help="machine-readable plan(s), money as decimal strings")
    p.add_argument("--peak-factor", help="peak second / average (default from cqrs.capacity.Assumptions)")
    p.set_defaults(func=cmd_capacity)


def cmd_capacity(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from decimal import Decimal, InvalidOperation

    from cqrs.capacity import PRICES_AS_OF, Assumptions, markdown_table, plan, with_rates
    from cqrs.cli import CliError

    a = Assumptions()
    measured = _measured_rates()
    if measured:
        a = with_rates(a, **measured)
    if args.peak_factor is not None:
        try:
            pf = Decimal(args.peak_factor)
        except InvalidOperation:
            raise CliError(f"--peak-factor {args.peak_factor!r} is not a number") from None
        if pf < 1:
            raise CliError("--peak-factor must be >= 1 (peak is at least the average)")
        a = replace(a, peak_factor=pf)
    plans = [plan(n, a) for n in args.tx_per_day]
    if args.json:
        body = [p.to_dict() for p in plans]
        out = {"plans": body, "assumptions": {k: str(v) if isinstance(v, Decimal) else v
                                              for k, v in asdict(a).items()}, "prices_as_of": PRICES_AS_OF}
        print(json.dumps(out, indent=2))
        return 0
    print(markdown_table(plans))
    source = ("measured by `cqrs bench` (bench/figures.json)" if measured else
              "placeholders (no bench/figures.json yet: run `cqrs bench --record`)")
    print(f"\nprices: us-east-1 list prices as of {PRICES_AS_OF}; projector per-core rates: {source}; "
          "see docs/capacity.md")
    return 0


def _measured_rates() -> dict[str, int]:
    """Per-core projector rates recorded by `cqrs bench --record`, keyed as the model's consumers."""
    try:
        from bench.figures import per_core_rates
    except ImportError:
        return {}
    return {f"{name}-projector": rate for name, rate in per_core_rates().items() if rate > 0}
