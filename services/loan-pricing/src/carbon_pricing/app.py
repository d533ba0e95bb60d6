"""Wiring: settings -> Redis, peers, policy manager, core, edges (gRPC, REST routers), workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from carbon_common import redis_conn
from carbon_common.channels import service_channel
from carbon_common.http import service_app
from carbon_common.projection import StreamProjection
from carbon_common.ratelimit import RateLimiter, RateLimitInterceptor, install_rest_limits, prefix_rule
from carbon_common.server import Service
from fastapi import FastAPI

from carbon_pricing import decision_log
from carbon_pricing.core import PricingCore
from carbon_pricing.grpc_api import SERVICE_NAME, register
from carbon_pricing.lifecycle import PolicyManager
from carbon_pricing.portfolio.app import build_loan_books
from carbon_pricing.portfolio.grpc_api import SERVICE_NAME as BOOKS_SERVICE_NAME
from carbon_pricing.projected import ProjectedConsent
from carbon_pricing.ratings import RatingProjection
from carbon_pricing.rest import health, policies, quotes
from carbon_pricing.rest.deps import PricingEdge
from carbon_pricing.settings import PricingSettings
from carbon_pricing.sources import GrpcAccountSource, GrpcRatingSource
from carbon_pricing.store import QuoteStore


@dataclass(frozen=True)
class Built:
    core: PricingCore
    consent: ProjectedConsent  # also the loan book's access decisions
    projections: list[StreamProjection[Any]]  # their tails run as workers
    ratings: RatingProjection  # also the loan book's grades


def build_core(settings: PricingSettings) -> Built:
    """The core on event-carried state, and the projections it reads."""
    secret = settings.effective_service_secret()
    caller = settings.service_name
    client = redis_conn.connect(settings.redis_url)
    timeout = settings.peer_timeout_seconds
    # Projections tail on their own connections (XREAD BLOCK holds one) and warm up before serving.
    consent = ProjectedConsent.connect(settings.redis_url, caller, settings.projection_warm_up_seconds)
    ratings = RatingProjection(
        redis_conn.connect(settings.redis_url),
        GrpcRatingSource(service_channel(settings.rating_target, caller, secret), timeout),
        GrpcAccountSource(service_channel(settings.accounting_target, caller, secret), timeout),
    )
    ratings.warm_up(settings.projection_warm_up_seconds)
    core = PricingCore(
        store=QuoteStore(client, settings.dry_run_inputs_kept),
        policies=PolicyManager(settings, client),
        banks=consent,
        consent=consent,
        ratings=ratings,
        accounts=ratings,
    )
    return Built(core, consent, [consent.projection, ratings], ratings)


def create_http_app(
    core: PricingCore,
    settings: PricingSettings,
    limiter: RateLimiter | None = None,
    route_body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """The pricing REST edge. `route_body_limits`: larger body bounds of mounted upload routes (path regex -> bytes)."""

    quote_threads = ThreadPoolExecutor(max_workers=settings.http_threads, thread_name_prefix="quote")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        yield
        # Past uvicorn's graceful drain no request waits on a quote thread any more.
        quote_threads.shutdown(wait=True, cancel_futures=True)

    app = service_app(
        "Carbon loan pricing API",
        "v1",
        (
            "Prices bank loans from enterprise carbon ratings through each bank product's Rego policy. "
            "Every quote needs an authorised CONSENT_SCOPE_RATING access consent from the enterprise to the bank, "
            "is idempotent on its request_id and is recorded in a hash-chained decision log."
        ),
        lifespan=lifespan,
        route_body_limits=route_body_limits,
    )
    if limiter is not None:
        # /bank/: the bank page and its login.
        install_rest_limits(app, limiter, prefix_rule({"/v1/": "address", "/bank/": "address"}))
    app.state.pricing = PricingEdge(core, settings.pricing_admin_token, quote_threads)
    app.include_router(quotes.router)
    app.include_router(policies.router)
    app.include_router(health.router)
    return app


def build_service(settings: PricingSettings | None = None) -> Service:
    settings = settings or PricingSettings()
    built = build_core(settings)
    core = built.core
    # Banks call both edges directly: per API key and per address.
    limiter = RateLimiter.from_settings(redis_conn.connect(settings.redis_url), settings)
    books = build_loan_books(settings, core, built.consent, built.ratings.published)
    return Service(
        name=settings.service_name,
        settings=settings,
        register=books.register(register(core)),
        http_app=books.mount(create_http_app(core, settings, limiter, books.body_limits())),
        interceptors=[RateLimitInterceptor(limiter, {SERVICE_NAME, BOOKS_SERVICE_NAME})],
        workers=[
            core.policies.poll_worker,
            core.policies.pubsub_worker,
            decision_log.verify_worker(core.store.redis, settings.decision_log_verify_seconds),
            *books.workers,
            *(p.worker() for p in built.projections),
        ],
        on_stop=[core.policies.engine.close],
    )
