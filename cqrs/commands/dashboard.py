"""`cqrs dashboard`: write the dashboards as one self-contained HTML page (works offline), or
export the search-side panels as OpenSearch Dashboards saved objects."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="write the dashboards page (HTML) from the running read models")
    p.add_argument("--out", default="dashboard.html", help="the HTML file to write (default dashboard.html)")
    p.add_argument("--engine", choices=("redshift", "athena"), default="redshift",
                   help="which SQL read model runs the report panels (default redshift)")
    p.add_argument("--from", dest="start", help="first day shown (YYYY-MM-DD, UTC)")
    p.add_argument("--to", dest="end", help="last day shown (YYYY-MM-DD, UTC)")
    p.add_argument("--customer", help="only this customer where a panel is per customer")
    p.add_argument("--opensearch-objects", metavar="DIR",
                   help="instead, write OpenSearch Dashboards saved objects (*.ndjson) into DIR")
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from cqrs.cli import CliError
    from cqrs.settings import Settings

    settings = Settings.from_env()
    if args.opensearch_objects:
        from dashboards.opensearch import write_saved_objects

        for path in write_saved_objects(Path(args.opensearch_objects), settings.table_prefix):
            print(path)
        return 0
    from dashboards.filters import FilterError
    from dashboards.web import build_page

    try:
        page = build_page(settings, args.engine, args.start, args.end, args.customer, refresh=0, live=False)
    except FilterError as e:
        raise CliError(str(e)) from None
    out = Path(args.out).resolve()
    out.write_text(page)
    print(out)
    return 0
