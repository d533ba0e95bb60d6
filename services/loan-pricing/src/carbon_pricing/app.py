"""Wiring: settings -> Redis, peers, policy manager, core, edges."""

from __future__ import annotations

from carbon_common import redis_conn
from carbon_common.bank_auth import BankAuthenticator
from carbon_common.channels import service_channel
from carbon_common.ratelimit import RateLimiter, RateLimitInterceptor
from carbon_common.server import Service

from carbon_pricing import decision_log
from carbon_pricing.core import PricingCore
from carbon_pricing.lifecycle import PolicyManager
from carbon_pricing.portfolio.app import build_loan_books
from carbon_pricing.portfolio.servicer import SERVICE_NAME as BOOKS_SERVICE_NAME
from carbon_pricing.rest import create_app
from carbon_pricing.servicer import SERVICE_NAME, register
from carbon_pricing.settings import PricingSettings
from carbon_pricing.sources import GrpcAccountSource, GrpcConsentChecker, GrpcRatingSource
from carbon_pricing.store import QuoteStore


def build_core(settings: PricingSettings) -> PricingCore:
    secret = settings.effective_service_secret()
    caller = settings.service_name
    client = redis_conn.connect(settings.redis_url)
    consent_channel = service_channel(settings.consent_target, caller, secret)
    timeout = settings.peer_timeout_seconds
    return PricingCore(
        store=QuoteStore(client, settings.dry_run_inputs_kept),
        policies=PolicyManager(settings, client),
        banks=BankAuthenticator(consent_channel, settings.bank_cache_seconds, timeout),
        consent=GrpcConsentChecker(consent_channel, settings.consent_cache_seconds, timeout),
        ratings=GrpcRatingSource(service_channel(settings.rating_target, caller, secret), timeout),
        accounts=GrpcAccountSource(service_channel(settings.accounting_target, caller, secret), timeout),
    )


def build_service(settings: PricingSettings | None = None) -> Service:
    settings = settings or PricingSettings()
    core = build_core(settings)
    # Banks call both edges directly: per API key and per address.
    limiter = RateLimiter.from_settings(redis_conn.connect(settings.redis_url), settings)
    books = build_loan_books(settings, core)
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
        ],
        on_stop=[core.policies.engine.close],
    )
