"""Wiring: settings -> Redis, peers, policy manager, core, edges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carbon_common import redis_conn
from carbon_common.channels import service_channel
from carbon_common.projection import StreamProjection
from carbon_common.ratelimit import RateLimiter, RateLimitInterceptor
from carbon_common.server import Service
from carbon_consent.projection import ConsentProjection

from carbon_pricing import decision_log
from carbon_pricing.core import PricingCore
from carbon_pricing.lifecycle import PolicyManager
from carbon_pricing.portfolio.app import build_loan_books
from carbon_pricing.portfolio.servicer import SERVICE_NAME as BOOKS_SERVICE_NAME
from carbon_pricing.projected import ProjectedConsent
from carbon_pricing.ratings import RatingProjection
from carbon_pricing.rest import create_app
from carbon_pricing.servicer import SERVICE_NAME, register
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
    consents = ConsentProjection(redis_conn.connect(settings.redis_url))
    consents.warm_up(settings.projection_warm_up_seconds)
    ratings = RatingProjection(
        redis_conn.connect(settings.redis_url),
        GrpcRatingSource(service_channel(settings.rating_target, caller, secret), timeout),
        GrpcAccountSource(service_channel(settings.accounting_target, caller, secret), timeout),
    )
    ratings.warm_up(settings.projection_warm_up_seconds)
    consent = ProjectedConsent(consents, client)
    core = PricingCore(
        store=QuoteStore(client, settings.dry_run_inputs_kept),
        policies=PolicyManager(settings, client),
        banks=consent,
        consent=consent,
        ratings=ratings,
        accounts=ratings,
    )
    return Built(core, consent, [consents, ratings], ratings)


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
        http_app=books.mount(create_app(core, settings, limiter, books.body_limits())),
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
