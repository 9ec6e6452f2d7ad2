"""`cqrs bench [--json] [--quick] [--only NAME | --all] [--record]`: the pipeline's benchmarks (bench/).

Default: projector throughput against the naive references and peak memory (pure compute, no stack).
`--only e2e|replay|api|index` run the benchmarks that need the embedded stack (each starts and stops its own);
`--all` (what `make bench` runs) runs every section, one after the other (~17 minutes on 2 cores); its e2e
section is the talk's rate for 5 minutes, then the rate search (60 s per rate).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

SECTIONS = ("throughput", "memory", "e2e", "replay", "api", "index")
DEFAULT = ("throughput", "memory")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks: projector throughput vs naive references, memory, e2e, replay, API")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--quick", action="store_true", help="small batches and short runs (a smoke test, seconds)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--only", choices=SECTIONS, action="append",
                       help="run only this benchmark (repeatable); default: throughput and memory")
    which.add_argument("--all", action="store_true", help=f"run every benchmark: {', '.join(SECTIONS)} (make bench)")
    p.add_argument("--records", type=int, default=None, help="records per batch (default 10,000)")
    p.add_argument("--duration", type=float, default=None, help="e2e: seconds per rate (default 60, full: 300); index: seconds per bulk size (default 75)")
    p.add_argument("--full", action="store_true", help="e2e: the full 5 minutes at the talk's rate")
    p.add_argument("--rates", default=None, help="e2e: comma-separated transactions/s to try, stopping at the first not sustained (default 116,150,200,250,325,425,550); index: documents/s (default 200)")
    p.add_argument("--record", action="store_true", help="write the figures into bench/figures.json")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from bench import figures, machine, report
    from cqrs.cli import CliError

    records = args.records or (1_000 if args.quick else 10_000)
    if records < 1:
        raise CliError("--records must be at least 1")
    out: dict = {"machine": machine.describe(), "command": "cqrs bench " + " ".join(_argv(args))}
    todo = steps(args)
    for i, (key, section, step_args) in enumerate(todo, 1):
        t0 = time.monotonic()
        print(f"bench [{i}/{len(todo)}] {key} ...", file=sys.stderr, flush=True)
        out[key] = report.run_section(section, step_args, records)
        print(f"bench [{i}/{len(todo)}] {key} done in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    if args.record:
        # each section keeps the machine and command it was measured with (runs record different sections)
        figures.save({k: {**v, "machine": out["machine"], "command": out["command"]}
                      for k, v in out.items() if k not in ("machine", "command")})
    print(json.dumps(out, indent=2, default=str) if args.json else report.to_text(out))
    return 0


def sections(args: argparse.Namespace) -> tuple[str, ...]:
    return SECTIONS if getattr(args, "all", False) else tuple(args.only or DEFAULT)


def steps(args: argparse.Namespace) -> list[tuple[str, str, argparse.Namespace]]:
    """(figure key, section, its arguments) in order. The 5-minute run is recorded as `e2e_full`, next to the
    rate search (`e2e`); `--all` runs both, the talk's rate first, as the issue asks (not with --quick)."""
    out = []
    for section in sections(args):
        if section == "e2e" and getattr(args, "all", False) and not args.full and not args.quick:
            out.append(("e2e_full", section, argparse.Namespace(**{**vars(args), "full": True})))
        out.append(("e2e_full" if section == "e2e" and args.full else section, section, args))
    return out


def _argv(args: argparse.Namespace) -> list[str]:
    a = []
    for s in args.only or ():
        a += ["--only", s]
    for flag in ("all", "quick", "full", "record", "json"):
        if getattr(args, flag):
            a.append(f"--{flag}")
    for opt in ("records", "duration", "rates"):
        if getattr(args, opt) is not None:
            a += [f"--{opt}", str(getattr(args, opt))]
    return a
