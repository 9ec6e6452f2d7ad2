"""The demo's dashboard step: write the page for people and say where it is."""
from __future__ import annotations

import argparse
from pathlib import Path

from cqrs.settings import Settings


def demo_step(settings: Settings, args: argparse.Namespace) -> None:
    from dashboards.web import build_page

    out = Path(getattr(args, "out", None) or "demo-dashboard.html").resolve()
    out.write_text(build_page(settings, getattr(args, "engine", None) or "redshift", None, None, None,
                              refresh=0, live=False))
    print(f"  dashboard written to {out} (open it in a browser; it works offline)")
