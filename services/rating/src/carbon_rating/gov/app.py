"""The government HTTP app: REST routers (one module per resource) and the pages, over one GovCore."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from carbon_common.errors import ServiceError
from carbon_common.http import health, service_app
from carbon_common.ratelimit import RateLimiter, install_rest_limits, prefix_rule
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from carbon_rating.gov import pages
from carbon_rating.gov.auth import GovUser
from carbon_rating.gov.core import GovCore
from carbon_rating.gov.rest import audit, schemes
from carbon_rating.gov.rest import population as population_routes
from carbon_rating.population import PopulationCache
from carbon_rating.registry import SchemeRegistry, SchemeStore


def create_app(
    store: SchemeStore,
    registry: SchemeRegistry,
    population: PopulationCache,
    users: Mapping[str, GovUser],
    refresh_population: Callable[[], int] | None = None,
    limiter: RateLimiter | None = None,
    secure_cookies: bool = True,
) -> FastAPI:
    """`secure_cookies` (off only in dev mode, for http://127.0.0.1) marks the login cookie Secure."""
    app = service_app(
        "Carbon rating - government scheme configuration",
        "1",
        "Regional rating schemes as data: drafts, four-eyes approval, previews and the audit chain.",
    )
    if limiter is not None:  # token guessing on the login form: per client address
        install_rest_limits(app, limiter, prefix_rule({"/login": "page"}))
    app.state.gov_core = GovCore(store, registry, population, refresh_population)
    app.state.gov_users = dict(users)
    app.state.secure_cookies = secure_cookies

    app.include_router(health)

    @app.exception_handler(ServiceError)
    async def _errors(request: Request, error: ServiceError) -> Response:
        if request.url.path.startswith("/v1/") or request.url.path == "/healthz" or request.url.path.endswith("/live"):
            return JSONResponse(error.to_json(), status_code=error.http_status)
        return pages.error_page(request, error)

    for module in (schemes, audit, population_routes):
        app.include_router(module.router)
    app.include_router(pages.router)
    return app
