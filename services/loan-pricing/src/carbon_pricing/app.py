"""Wiring: settings -> Redis, peers, policy manager, core, edges."""

from __future__ import annotations

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
from carbon_pricing.projected import ProjectedConsent
from carbon_pricing.ratings import RatingProjection
from carbon_pricing.rest import create_app
from carbon_pricing.servicer import SERVICE_NAME, register
from carbon_pricing.settings import PricingSettings
from carbon_pricing.sources import GrpcAccountSource, GrpcRatingSource
from carbon_pricing.store import QuoteStore


def build_core(settings: PricingSettings) -> tuple[PricingCore, list[StreamProjection[Any]]]:
    """The core on event-carried state, and the projections whose tails must run as workers."""
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
    return core, [consents, ratings]


def build_service(settings: PricingSettings | None = None) -> Service:
    settings = settings or PricingSettings()
    core, projections = build_core(settings)
    # Banks call both edges directly: per API key and per address.
    limiter = RateLimiter.from_settings(redis_conn.connect(settings.redis_url), settings)
    return Service(
        name=settings.service_name,
        settings=settings,
        register=register(core),
        http_app=create_app(core, settings, limiter),
        interceptors=[RateLimitInterceptor(limiter, {SERVICE_NAME})],
        workers=[
            core.policies.poll_worker,
            core.policies.pubsub_worker,
            decision_log.verify_worker(core.store.redis, settings.decision_log_verify_seconds),
            *(p.worker() for p in projections),
        ],
        on_stop=[core.policies.engine.close],
    )
