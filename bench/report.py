"""Runs a benchmark section and prints the figures as text."""
from __future__ import annotations

from typing import Any


def run_section(section: str, args: Any, records: int) -> dict[str, Any]:
    if section == "throughput":
        from bench import throughput

        return throughput.run(records, repeats=1 if args.quick else 5)
    if section == "memory":
        from bench import memory

        return memory.run(size=(512 * 1024) if args.quick else 6 * 2**20)
    if section == "e2e":
        from bench import e2e

        return e2e.run(args)
    if section == "replay":
        from bench import replay

        return replay.run(args)
    if section == "api":
        from bench import api

        return api.run(args)
    if section == "index":
        from bench import index

        return index.run(args)
    raise ValueError(f"unknown benchmark {section!r}")


def to_text(out: dict[str, Any]) -> str:
    m = out["machine"]
    lines = [(f"machine: {m['nproc']} cpu ({m['cpu']}), {m['ram_gib']} GiB, Python {m['python']}, "
              f"load {m['load_average_1m']}, {m['date']}"), f"command: {out['command']}"]
    t = out.get("throughput")
    if t:
        lines.append(f"\nprojection throughput, {t['records']:,} records, records/s per core (best of {t['repeats']}):")
        for name, p in t["projectors"].items():
            vs = "  ".join(f"{v}={d['records_per_s_per_core']:,}" for v, d in p["variants"].items())
            lines.append(f"  {name:<10} {vs}   ours/naive = {p['ratio_vs_naive']}x   (exact decimals checked)")
    mem = out.get("memory")
    if mem:
        size = max(d["event_bytes"] for d in mem.values()) / 2**20
        lines.append(f"\npeak memory, one ~{size:.1f} MB Lambda event through the pure path (fresh process):")
        for name, d in mem.items():
            lines.append(f"  {name:<10} {d['records']:,} records ({d['event_bytes'] / 2**20:.1f} MB): peak RSS "
                         f"{d['rss_peak_mb']} MB (+{d['rss_growth_mb']} MB over imports + parsed event), Python allocations peak "
                         f"{d['tracemalloc_peak_mb']} MB")
    for section in ("e2e", "e2e_full", "replay", "api", "index"):
        if out.get(section):
            lines.append(f"\n{section}:")
            lines.extend(_e2e_text(out[section]) if section.startswith("e2e") else _text_section(out[section]))
    return "\n".join(lines)


def _e2e_text(d: dict[str, Any]) -> list[str]:
    """A run per rate: what was posted, then freshness per read model as a small table."""
    from bench.e2e import POLLERS

    lines = [f"  {d['duration_s']:g} s per rate; polled every {d['poll_interval_s']} s"]
    for r in d["runs"]:
        lines.append(f"  {r['rate_target']:g}/s: posted {r['posted']:,} at {r['rate_achieved']}/s, "
                     f"{r['poster_late']} late; sustainable={r['sustainable']}")
        lines.append(f"    {'freshness (s)':<14}{'p50':>8}{'p99':>8}{'max':>8}   {'p99 1st -> 2nd half':<22}not visible")
        for m in POLLERS:
            f = r.get(m)
            if f is None:
                continue  # a run recorded before this read model was measured
            halves = f"{f['p99_first_half_s']} -> {f['p99_second_half_s']}"
            lines.append(f"    {m:<14}{f['p50_s']!s:>8}{f['p99_s']!s:>8}{f['max_s']!s:>8}   {halves:<22}{f['not_visible']}"
                         + (f"  ({f['last_error']})" if f.get("last_error") else ""))
        backlog = ", ".join(f"{k} {v['max_lag_records']} records / {v['max_lag_age_s']} s"
                            + (" (growing)" if v.get("grows") else "")
                            for k, v in r["runner_max_backlog_while_posting"].items())
        lines.append(f"    runner's largest backlog while posting: {backlog}")
    lines.append(f"  highest sustainable rate tried: {d['highest_sustainable_rate_tried']}")
    return lines


def _text_section(d: dict[str, Any], indent: str = "  ") -> list[str]:
    lines = []
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(f"{indent}{k}:")
            lines.extend(_text_section(v, indent + "  "))
        else:
            lines.append(f"{indent}{k}: {v}")
    return lines
