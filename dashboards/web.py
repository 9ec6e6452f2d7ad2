"""GET /dashboard: the live page, rendered on each request from the read models.

Auth (the page is for people, in a browser): when `Settings.dashboard_key` (CQRS_DASHBOARD_KEY) is
set, a request must carry it as `?key=...` (which sets an HttpOnly cookie, so later filter clicks
and refreshes carry it) or as that cookie; without a key the page is served only to loopback
clients (the local stack). Anything else is a 401/403 saying which."""
from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from cqrs.settings import Settings

COOKIE = "cqrs_dashboard_key"
LOOPBACK = ("127.", "::1", "localhost", "testclient")


def check_access(settings: Settings, request: Request, key: str | None) -> bool:
    """True when the key came in the query (so the response should set the cookie)."""
    expected = getattr(settings, "dashboard_key", None)
    if not expected:
        host = request.client.host if request.client else ""
        if not host.startswith(LOOPBACK):
            raise HTTPException(403, "the dashboard without CQRS_DASHBOARD_KEY is served to loopback only")
        return False
    given = key or request.cookies.get(COOKIE) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "dashboard key missing or wrong: open /dashboard?key=<analyst key>")
    return bool(key)


def build_page(settings: Settings, engine: str, start: str | None, end: str | None, customer: str | None,
               refresh: int, live: bool = True) -> str:
    from dashboards.definition import load_all
    from dashboards.filters import Filters
    from dashboards.render import PageContext, render_page
    from dashboards.sources import fetch_all

    f = Filters.parse(start, end, customer)
    boards = load_all()
    data = fetch_all(settings, boards, engine, f)
    ctx = PageContext(generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                      engine=engine, filters=f.as_dict(), live=live, refresh_seconds=refresh)
    return render_page(boards, data, ctx)


def make_router(settings: Settings | None = None) -> APIRouter:
    router = APIRouter()

    @router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard(request: Request, key: str | None = None,
                  start: str | None = Query(None, alias="from"), end: str | None = Query(None, alias="to"),
                  customer: str | None = None, engine: str = "redshift", refresh: int = 60) -> Any:
        from dashboards.filters import FilterError
        from dashboards.sources import ENGINES

        s = settings or Settings.from_env()
        set_cookie = check_access(s, request, key)
        if engine not in ENGINES:
            raise HTTPException(400, f"engine must be one of {sorted(ENGINES)}")
        try:
            page = build_page(s, engine, start, end, customer, max(0, min(refresh, 3600)))
        except FilterError as e:
            raise HTTPException(400, str(e)) from None
        resp = HTMLResponse(page)
        if set_cookie and key:
            resp.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return resp

    return router
