"""The search API over the OpenSearch read model (FastAPI).

`create_app(settings)` builds it; other parts add routes with `app.include_router(...)` and can
protect them with `require_roles(...)`. Clients are created lazily on first use (no I/O at import
or construction) and can be injected for tests.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from cqrs.settings import Settings
from projections.search.mappings import alias_name
from search_api.keys import ApiKeyStore, table_name
from search_api.queries import (
    MAX_PAGE,
    MAX_QUERY_CHARS,
    RESOURCES,
    ParamError,
    Principal,
    SearchRequest,
    build_get,
    build_search,
    public,
    to_page,
)

log = logging.getLogger(__name__)
API_KEY = APIKeyHeader(name="X-Api-Key", auto_error=False, description="an API key from `cqrs apikey create`")
API_KEY_DEP = Depends(API_KEY)


class ApiError(Exception):
    def __init__(self, status: int, message: str, retryable: bool = False):
        super().__init__(message)
        self.status, self.message, self.retryable = status, message, retryable


class Deps:
    """The app's clients, created on first use."""

    def __init__(self, settings: Settings, search: Any = None, keys: ApiKeyStore | None = None):
        self.settings, self._search, self._keys = settings, search, keys

    @property
    def search(self) -> Any:
        if self._search is None:
            from projections.search.client import make_client

            self._search = make_client(self.settings)
        return self._search

    @property
    def keys(self) -> ApiKeyStore:
        if self._keys is None:
            self._keys = ApiKeyStore(self.settings.boto3_client("dynamodb"), table_name(self.settings))
        return self._keys


def deps(request: Request) -> Deps:
    return request.app.state.deps  # type: ignore[no-any-return]


def authenticated(request: Request, key: str | None = API_KEY_DEP) -> Principal:
    who = deps(request).keys.authenticate(key)
    if who is None:
        raise ApiError(401, "missing or invalid X-Api-Key")
    return who


AUTHENTICATED = Depends(authenticated)


def require_roles(*roles: str) -> Callable[..., Principal]:
    def check(who: Principal = AUTHENTICATED) -> Principal:
        if who.role not in roles:
            raise ApiError(403, f"role {who.role!r} may not use this route")
        return who
    return check


def _search(d: Deps, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(d.search.search(index=alias_name(resource, d.settings.table_prefix), body=body))


def _list(request: Request, resource: str, who: Principal, filters: dict[str, str | None],
          q: str | None, min_amount: Decimal | None, max_amount: Decimal | None,
          time_from: datetime | None, time_to: datetime | None, sort: str | None, size: int,
          cursor: str | None) -> dict[str, Any]:
    res = RESOURCES[resource]
    if who.role not in res.roles:
        raise ApiError(403, f"role {who.role!r} may not search {resource}")
    given = {k: v for k, v in filters.items() if v is not None}
    if res.customer_scoped and who.role == "customer" and given.get("customer") not in (None, who.customer_id):
        raise ApiError(403, "a customer key sees only its own customer's documents")
    req = SearchRequest(q=q, filters=given, min_amount=min_amount, max_amount=max_amount,
                        time_from=time_from, time_to=time_to, sort=sort, size=size, cursor=cursor)
    body = build_search(res, who, req)
    return to_page(res, req, _search(deps(request), resource, body))


def _get(request: Request, resource: str, who: Principal, doc_id: str) -> dict[str, Any]:
    res = RESOURCES[resource]
    if who.role not in res.roles:
        raise ApiError(403, f"role {who.role!r} may not read {resource}")
    hits = _search(deps(request), resource, build_get(res, who, doc_id))["hits"]["hits"]
    if not hits:  # absent, deleted, or another customer's: the same answer, so nothing leaks
        raise ApiError(404, f"no {resource[:-1]} {doc_id!r}")
    return public(hits[0]["_source"])


# Shared parameters, declared once; FastAPI validates them and names the parameter in a 422.
# (Term filters need one Query object per parameter: FastAPI binds a Query object to one name.)
def _term() -> Any:
    return Query(None, min_length=1, max_length=128)


Q = Query(None, max_length=MAX_QUERY_CHARS, description="full text (simple_query_string syntax)")
SIZE = Query(20, ge=1, le=MAX_PAGE)
SORT = Query(None, max_length=40, pattern=r"^-?[a-z_]+$", description="field, '-' prefix for descending")
CURSOR = Query(None, max_length=2000, description="next_cursor of the previous page")
MIN = Query(None, ge=0, max_digits=20, decimal_places=2)
MAX = Query(None, ge=0, max_digits=20, decimal_places=2)
FROM = Query(None, alias="from", description="inclusive lower bound of the resource's time")
TO = Query(None, alias="to", description="exclusive upper bound")


ANY_ROLE = Depends(require_roles("analyst", "customer"))


def v1_router() -> APIRouter:
    r = APIRouter(prefix="/v1")

    @r.get("/orders", tags=["orders"])
    def orders(request: Request, who: Principal = ANY_ROLE, q: str | None = Q, customer: str | None = _term(),
               status: str | None = _term(), sku: str | None = _term(), cart: str | None = _term(),
               min_amount: Decimal | None = MIN, max_amount: Decimal | None = MAX,
               time_from: datetime | None = FROM, time_to: datetime | None = TO, sort: str | None = SORT,
               size: int = SIZE, cursor: str | None = CURSOR) -> dict[str, Any]:
        return _list(request, "orders", who, {"customer": customer, "status": status, "sku": sku, "cart": cart},
                     q, min_amount, max_amount, time_from, time_to, sort, size, cursor)

    @r.get("/transactions", tags=["transactions"])
    def transactions(request: Request, who: Principal = ANY_ROLE, q: str | None = Q,
                     customer: str | None = _term(), merchant: str | None = _term(), country: str | None = _term(),
                     payment: str | None = _term(), min_amount: Decimal | None = MIN,
                     max_amount: Decimal | None = MAX, time_from: datetime | None = FROM,
                     time_to: datetime | None = TO, sort: str | None = SORT, size: int = SIZE,
                     cursor: str | None = CURSOR) -> dict[str, Any]:
        return _list(request, "transactions", who,
                     {"customer": customer, "merchant": merchant, "country": country, "payment": payment},
                     q, min_amount, max_amount, time_from, time_to, sort, size, cursor)

    @r.get("/products", tags=["products"])
    def products(request: Request, who: Principal = ANY_ROLE, q: str | None = Q, category: str | None = _term(),
                 sku: str | None = _term(), min_amount: Decimal | None = MIN, max_amount: Decimal | None = MAX,
                 time_from: datetime | None = FROM, time_to: datetime | None = TO, sort: str | None = SORT,
                 size: int = SIZE, cursor: str | None = CURSOR) -> dict[str, Any]:
        return _list(request, "products", who, {"category": category, "sku": sku},
                     q, min_amount, max_amount, time_from, time_to, sort, size, cursor)

    @r.get("/alerts", tags=["alerts"])
    def alerts(request: Request, who: Principal = ANY_ROLE, q: str | None = Q, customer: str | None = _term(),
               merchant: str | None = _term(), rule: str | None = _term(), status: str | None = _term(),
               min_amount: Decimal | None = MIN, max_amount: Decimal | None = MAX,
               time_from: datetime | None = FROM, time_to: datetime | None = TO, sort: str | None = SORT,
               size: int = SIZE, cursor: str | None = CURSOR) -> dict[str, Any]:
        return _list(request, "alerts", who,
                     {"customer": customer, "merchant": merchant, "rule": rule, "status": status},
                     q, min_amount, max_amount, time_from, time_to, sort, size, cursor)

    for resource in RESOURCES:
        r.add_api_route(f"/{resource}/{{doc_id}}", _bind_get(resource), methods=["GET"], tags=[resource])
    return r


def _bind_get(resource: str) -> Callable[..., dict[str, Any]]:
    def get_one(request: Request, doc_id: str, who: Principal = ANY_ROLE) -> dict[str, Any]:
        return _get(request, resource, who, doc_id)
    get_one.__name__ = f"get_{resource}"
    return get_one


def _error(status: int, message: str, retryable: bool = False) -> JSONResponse:
    return JSONResponse({"error": message, "retryable": retryable}, status_code=status)


def create_app(settings: Settings | None = None, *, search: Any = None, keys: ApiKeyStore | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    # The OpenAPI document is served behind authentication like everything but /health.
    app = FastAPI(title="cqrs search API", version="1", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.deps = Deps(settings, search, keys)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(v1_router())
    app.include_router(__import__("dashboards.web", fromlist=["make_router"]).make_router(settings))  # GET /dashboard

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(who: Principal = AUTHENTICATED) -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        return app.openapi_schema

    @app.exception_handler(ApiError)
    def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.retryable)

    @app.exception_handler(ParamError)
    def param_error(request: Request, exc: ParamError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["query", exc.param], "msg": str(exc), "type": "value_error"}]},
                            status_code=422)

    @app.exception_handler(PermissionError)
    def forbidden(request: Request, exc: PermissionError) -> JSONResponse:
        return _error(403, str(exc))

    from opensearchpy.exceptions import ConnectionError as OSConnectionError
    from opensearchpy.exceptions import TransportError

    @app.exception_handler(OSConnectionError)
    def backend_down(request: Request, exc: OSConnectionError) -> JSONResponse:
        log.warning("search backend unreachable: %s", exc)
        return _error(503, "search backend unavailable; retry later", True)

    @app.exception_handler(TransportError)
    def backend_error(request: Request, exc: TransportError) -> JSONResponse:
        status = exc.status_code if isinstance(exc.status_code, int) else 502
        log.warning("search backend answered %s: %s", status, exc.error)
        if status == 404:
            return _error(503, "search index missing (provisioning has not run)", False)
        if status == 429 or status >= 500:
            return _error(503, "search backend busy or failing; retry later", True)
        return _error(400, "the search backend rejected this query", False)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal error", False)

    return app
